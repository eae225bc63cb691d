#!/usr/bin/env python3
"""Times berth, an OCI runtime CLI (crun, or runc where crun refuses the host) and podman on the same work, alternating the tools each
iteration, and prints a markdown table (median, p99, berth/peer ratio), then a second one with the memory of the per-container
monitors and of the services while PARALLEL containers run. A row that fails for one tool is printed as failed (the run goes
on) and makes the exit status 1.
Driven by bench/compare, which sets up the tools and cleans up after."""
import concurrent.futures as cf
import http.client
import json
import os
import shlex
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid

ITER = int(os.environ.get("ITERATIONS", "20"))
PARALLEL = int(os.environ.get("PARALLEL", "100"))
BERTH_PORT = int(os.environ["BERTH_PORT"])
BERTH_TOKEN = os.environ["BERTH_TOKEN"]
BERTHD_PID = int(os.environ["BERTHD_PID"])
PODMAN_SOCK = os.environ.get("PODMAN_SOCK", "")
PODMAN_PID = int(os.environ.get("PODMAN_PID", "0"))
PODMAN_FLAGS = shlex.split(os.environ.get("PODMAN_FLAGS", ""))  # the service's --root, --runroot, ... for the podman CLI
ROOTFS = os.environ["ROOTFS"]
WORK = os.environ["WORK"]
CGROUP_ROOT = os.environ["CGROUP_ROOT"]
OCI = os.environ.get("OCI_NAME", "crun")  # the OCI runtime CLI on PATH (a wrapper with its own --root)
TERM_INIT = ["/bin/sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1 & wait $!; done"]
SLEEPER = ["/bin/sleep", "100000"]
STARTED = f"{PARALLEL} containers started in parallel"
FORCE_STOPPED = f"{PARALLEL} containers force-stopped in parallel"
PAUSED = f"{PARALLEL} containers paused at once"
MONITOR_PSS = f"per-container monitor, average PSS ({PARALLEL} running)"
MONITOR_RSS = f"per-container monitor, average RSS ({PARALLEL} running)"
SERVICE_IDLE = "service RSS, idle"
SERVICE_RUNNING = f"service RSS, {PARALLEL} running"
EXEC = "exec /bin/true in a running container"
ATTACH_FLOOR = "floor: first cgroup.procs write of a new process (v1 pids)"
SETTLED_FREEZE = "floor: cgroup.freeze of a shell loop 0.2 s after its thaw (a settled pause's kernel part)"
COMMIT_FLOOR = "floor: one synced commit of berth's store (LMDB)"
SETTLED_COMMIT = "floor: a pause's commit in berth's store, synced, 0.2 s after the last (a settled pause's commit)"
HTTP_FLOOR = "floor: HTTP request to a server that does nothing else, 0.2 s after the last (a settled call's HTTP part)"
UNSHARE_FLOOR = "floor: unshare (pid,mnt,uts,ipc,net) + exec /bin/true"
EXEC_TARGET = ["/bin/sleep", "3600"]


def ms(seconds):
    return seconds * 1000.0


class JsonClient:
    """One keep-alive connection; JSON bodies in and out."""

    def __init__(self, name, conn, headers=None):
        self.name = name
        self.conn = conn
        self.headers = headers or {}

    def call(self, method, path, body=None):
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=headers)
        reply = self.conn.getresponse()
        text = reply.read()
        if reply.status >= 300:
            raise RuntimeError(f"{self.name} {method} {path}: {reply.status} {text[:300]!r}")
        return json.loads(text) if text else None


class Berth(JsonClient):
    def __init__(self, timeout=None):
        super().__init__("berth", http.client.HTTPConnection("127.0.0.1", BERTH_PORT, timeout=timeout),
                         {"Authorization": "Bearer " + BERTH_TOKEN})

    def create(self, command, autostart):
        name = "cmp-" + uuid.uuid4().hex[:10]
        return self.call("POST", "/api/v1/containers", {"name": name, "command": command, "autostart": autostart})["data"]

    def op(self, cid, op, query=""):
        return self.call("POST", f"/api/v1/containers/{cid}/{op}{query}")

    def status(self, cid):
        return self.call("GET", f"/api/v1/containers/{cid}")["data"]["status"]

    def delete(self, cid):
        self.call("DELETE", f"/api/v1/containers/{cid}?force=true")

    def exec_true(self, cid):
        """Answered once the process has exited, with its exit code."""
        self.conn.request("POST", f"/api/v1/containers/{cid}/exec", body=json.dumps({"command": ["/bin/true"]}),
                          headers={**self.headers, "Content-Type": "application/json"})
        reply = self.conn.getresponse()
        text = reply.read()
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        data = body.get("data") if isinstance(body, dict) else None
        if reply.status != 200 or not isinstance(data, dict) or data.get("exit_code") != 0:
            said = body.get("message", body) if isinstance(body, dict) and reply.status >= 300 else body or text[:200]
            raise RuntimeError(f"POST /api/v1/containers/{{id}}/exec: {reply.status} {said}, not 200 with data.exit_code 0")


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


class Podman(JsonClient):
    def __init__(self):
        super().__init__("podman", UnixHTTPConnection(PODMAN_SOCK))

    def create(self, command):
        # Within the hard limit this host gives (podman asks for 1048576 by default). Under our
        # cgroup root (conmon too, in its conmon child), which bench/compare removes: not libpod_parent.
        spec = {"rootfs": ROOTFS, "command": command, "netns": {"nsmode": "none"},
                "cgroup_parent": f"/{CGROUP_ROOT}/podman",
                "r_limits": [{"type": "nofile", "soft": 1024, "hard": 1024},
                             {"type": "nproc", "soft": 4096, "hard": 4096}]}
        return self.call("POST", "/v4.0.0/libpod/containers/create", spec)["Id"]

    def op(self, cid, op, query=""):
        self.call("POST", f"/v4.0.0/libpod/containers/{cid}/{op}{query}")

    def wait(self, cid):
        self.call("POST", f"/v4.0.0/libpod/containers/{cid}/wait")

    def delete(self, cid):
        self.call("DELETE", f"/v4.0.0/libpod/containers/{cid}?force=true")

    def exec_true(self, cid):
        # Attached, stdout and stderr (/bin/true writes neither): 4.3 refuses an attached start without a
        # stream ("must provide at least one stream to attach to"), and removes a detached session, exit
        # code and all, when its process ends.
        eid = self.call("POST", f"/v4.0.0/libpod/containers/{cid}/exec",
                        {"Cmd": ["/bin/true"], "AttachStdout": True, "AttachStderr": True})["Id"]
        # Not detached: podman hijacks the connection for the stream and closes it once the process has
        # exited and its exit code is recorded (a process that closes its stdout and stderr early keeps it
        # open until it exits). The next call opens a new connection.
        self.conn.request("POST", f"/v4.0.0/libpod/exec/{eid}/start", body=json.dumps({"Detach": False}),
                          headers={"Content-Type": "application/json"})
        reply = self.conn.getresponse()
        text = reply.read()  # to EOF
        if reply.status != 200:
            raise RuntimeError(f"podman exec start: {reply.status} {text[:300]!r}")
        state = self.call("GET", f"/v4.0.0/libpod/exec/{eid}/json")
        if state["Running"] or state["ExitCode"] != 0:
            raise RuntimeError(f"podman exec: Running {state['Running']}, ExitCode {state['ExitCode']} after the stream closed")


def oci_bundle(name, args):
    bundle = os.path.join(WORK, "crun", name)
    os.makedirs(bundle, exist_ok=True)
    subprocess.run(["oci", "spec"], cwd=bundle, check=True, capture_output=True)
    with open(os.path.join(bundle, "config.json")) as f:
        config = json.load(f)
    config["root"] = {"path": ROOTFS, "readonly": True}
    config["process"]["args"] = args
    config["process"]["terminal"] = False
    config["linux"]["cgroupsPath"] = f"/{CGROUP_ROOT}/oci-{name}"
    config["linux"]["namespaces"] = [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount", "cgroup")]
    with open(os.path.join(bundle, "config.json"), "w") as f:
        json.dump(config, f)
    return bundle


def oci(*args, bundle=None):
    # Not a pipe for stderr: `create` leaves `runc init` holding it until `start`.
    subprocess.run(["oci", *args], cwd=bundle, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def oci_wait_stopped(name):
    while json.loads(subprocess.run(["oci", "state", name], capture_output=True).stdout)["status"] != "stopped":
        pass


def timed(samples, key, fn):
    t0 = time.perf_counter()
    result = fn()
    samples.setdefault(key, []).append(ms(time.perf_counter() - t0))
    return result


def run_to_completion(samples, berth, podman):
    for i in range(ITER):
        def berth_true():
            c = berth.create(["/bin/true"], True)
            while berth.status(c["id"]) != "stopped":
                pass
            berth.delete(c["id"])
        timed(samples, ("run /bin/true to completion", "berth"), berth_true)
        bundle = oci_bundle(f"true-{i}", ["/bin/true"])
        timed(samples, ("run /bin/true to completion", OCI), lambda: oci("run", f"true-{i}", bundle=bundle))
        if podman:
            def podman_true():
                cid = podman.create(["/bin/true"])
                podman.op(cid, "start")
                podman.wait(cid)
                podman.delete(cid)
            timed(samples, ("run /bin/true to completion", "podman"), podman_true)


def lifecycle(samples, berth, podman):
    for i in range(ITER):
        c = berth.create(TERM_INIT, False)
        cid = c["id"]
        timed(samples, ("start", "berth"), lambda: berth.op(cid, "start"))
        time.sleep(0.2)
        timed(samples, ("pause", "berth"), lambda: berth.op(cid, "pause"))
        timed(samples, ("resume", "berth"), lambda: berth.op(cid, "resume"))
        timed(samples, ("pause right after a resume", "berth"), lambda: berth.op(cid, "pause"))
        berth.op(cid, "resume")
        timed(samples, ("stop (SIGTERM handled)", "berth"), lambda: berth.op(cid, "stop"))
        berth.op(cid, "start")
        time.sleep(0.1)
        timed(samples, ("force-stop", "berth"), lambda: berth.op(cid, "force-stop"))
        berth.delete(cid)

        name = f"life-{i}"
        bundle = oci_bundle(name, TERM_INIT)
        # create + start: the create is where an OCI runtime does the work berth's start does.
        timed(samples, ("start", OCI), lambda: (oci("create", name, bundle=bundle), oci("start", name)))
        time.sleep(0.2)
        timed(samples, ("pause", OCI), lambda: oci("pause", name))
        timed(samples, ("resume", OCI), lambda: oci("resume", name))
        timed(samples, ("pause right after a resume", OCI), lambda: oci("pause", name))
        oci("resume", name)
        def oci_stop():
            oci("kill", name, "TERM")
            oci_wait_stopped(name)
        timed(samples, ("stop (SIGTERM handled)", OCI), oci_stop)
        oci("delete", "-f", name)
        oci("create", name, bundle=bundle)
        oci("start", name)
        time.sleep(0.1)
        timed(samples, ("force-stop", OCI), lambda: oci("kill", name, "KILL"))
        oci("delete", "-f", name)

        if podman:
            pid_ = podman.create(TERM_INIT)
            timed(samples, ("start", "podman"), lambda: podman.op(pid_, "start"))
            time.sleep(0.2)
            timed(samples, ("pause", "podman"), lambda: podman.op(pid_, "pause"))
            timed(samples, ("resume", "podman"), lambda: podman.op(pid_, "unpause"))
            timed(samples, ("pause right after a resume", "podman"), lambda: podman.op(pid_, "pause"))
            podman.op(pid_, "unpause")
            timed(samples, ("stop (SIGTERM handled)", "podman"), lambda: podman.op(pid_, "stop", "?timeout=10"))
            podman.op(pid_, "start")
            time.sleep(0.1)
            timed(samples, ("force-stop", "podman"), lambda: podman.op(pid_, "kill", "?signal=KILL"))
            podman.wait(pid_)
            podman.delete(pid_)


def kib(path, field):
    """The `Field:   N kB` line of a /proc file."""
    with open(path) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field} in {path}")


def mib(kibibytes):
    return kibibytes / 1024.0


def processes(comm, marker, *more):
    """Pids named comm whose command line holds marker (and each of more): our private dirs, so only what this benchmark started."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/comm") as f:
                name = f.read().strip()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read().replace(b"\0", b" ").decode(errors="replace")
        except (FileNotFoundError, ProcessLookupError):
            continue  # exited while we listed
        if name == comm and marker in cmdline and all(m in cmdline for m in more):
            pids.append(int(entry))
    return pids


def measure_running(memory, tool, comm, marker, service_pid):
    """Memory of tool's per-container monitors and service while its PARALLEL containers run."""
    pids = processes(comm, marker)
    if len(pids) != PARALLEL:
        raise RuntimeError(f"{tool}: {len(pids)} {comm} processes for {PARALLEL} running containers")
    rollups = [f"/proc/{pid}/smaps_rollup" for pid in pids]
    memory[MONITOR_PSS][tool] = mib(statistics.mean(kib(r, "Pss") for r in rollups))
    memory[MONITOR_RSS][tool] = mib(statistics.mean(kib(r, "Rss") for r in rollups))
    memory[SERVICE_RUNNING][tool] = mib(kib(f"/proc/{service_pid}/status", "VmRSS"))


class PerThread:
    """One client (one connection) per pool thread, kept from the start phase to the force-stop phase."""

    def __init__(self, factory):
        self.factory = factory
        self.local = threading.local()

    def __call__(self, fn):
        def call(item):
            if not hasattr(self.local, "client"):
                self.local.client = self.factory()
            return fn(self.local.client, item)
        return call


# PARALLEL long-running containers started, then force-stopped, 32 at a time. Only these
# two phases are timed, for every tool: the records (berth, podman) and bundles (OCI)
# are made before and removed after, untimed.
def parallel_berth(samples, memory, pool, berth):
    ids = [berth.create(SLEEPER, False)["id"] for _ in range(PARALLEL)]
    clients = PerThread(Berth)
    start = clients(lambda b, c: b.op(c, "start"))
    force_stop = clients(lambda b, c: b.op(c, "force-stop"))
    pause = clients(lambda b, c: b.op(c, "pause"))
    resume = clients(lambda b, c: b.op(c, "resume"))
    timed(samples, (STARTED, "berth"), lambda: list(pool.map(start, ids)))
    measure_running(memory, "berth", "berth-shim", os.path.join(WORK, "berth-run"), BERTHD_PID)
    timed(samples, (PAUSED, "berth"), lambda: list(pool.map(pause, ids)))
    list(pool.map(resume, ids))
    timed(samples, (FORCE_STOPPED, "berth"), lambda: list(pool.map(force_stop, ids)))
    for c in ids:
        berth.delete(c)


def parallel_oci(samples, memory, pool):
    bundles = {f"par-{i}": oci_bundle(f"par-{i}", SLEEPER) for i in range(PARALLEL)}
    def start(name):
        oci("create", name, bundle=bundles[name])
        oci("start", name)
    def force_stop(name):
        oci("kill", name, "KILL")
        oci_wait_stopped(name)
    timed(samples, (STARTED, OCI), lambda: list(pool.map(start, bundles)))
    memory[MONITOR_PSS][OCI] = memory[MONITOR_RSS][OCI] = f"none ({OCI} leaves no monitor)"
    timed(samples, (PAUSED, OCI), lambda: list(pool.map(lambda name: oci("pause", name), bundles)))
    list(pool.map(lambda name: oci("resume", name), bundles))
    timed(samples, (FORCE_STOPPED, OCI), lambda: list(pool.map(force_stop, bundles)))
    for name in bundles:
        oci("delete", "-f", name)


def parallel_podman(samples, memory, pool, podman):
    ids = [podman.create(SLEEPER) for _ in range(PARALLEL)]
    clients = PerThread(Podman)
    start = clients(lambda p, c: p.op(c, "start"))
    def kill_and_wait(p, c):
        p.op(c, "kill", "?signal=KILL")
        p.wait(c)
    force_stop = clients(kill_and_wait)
    timed(samples, (STARTED, "podman"), lambda: list(pool.map(start, ids)))
    measure_running(memory, "podman", "conmon", WORK, PODMAN_PID)
    timed(samples, (PAUSED, "podman"), lambda: list(pool.map(clients(lambda p, c: p.op(c, "pause")), ids)))
    list(pool.map(clients(lambda p, c: p.op(c, "unpause")), ids))
    timed(samples, (FORCE_STOPPED, "podman"), lambda: list(pool.map(force_stop, ids)))
    for c in ids:
        podman.delete(c)


def parallel(samples, memory, berth, podman):
    with cf.ThreadPoolExecutor(32) as pool:
        parallel_berth(samples, memory, pool, berth)
        parallel_oci(samples, memory, pool)
        if podman:
            parallel_podman(samples, memory, pool, podman)


def exec_in_running(samples, failures, with_podman):
    """/bin/true exec'd into a running sleep, timed until it has exited (with its exit code known), each tool
    on its own container made (and removed) untimed. berth's endpoint may be missing: its row fails alone.
    New clients: berthd drops a connection idle for 5 s, as main's is through the parallel rows."""
    podman = Podman() if with_podman else None
    tools = ["berth", OCI] + (["podman", "podman CLI"] if podman else [])
    for tool in tools:
        samples.setdefault((EXEC, tool), [])  # the table's order, failed rows included
    berth_exec = Berth(timeout=30)  # its own connection: a failing or hanging endpoint leaves the others' alone
    name = "exec-target"
    bid = pod = None
    try:
        bid = Berth().create(EXEC_TARGET, True)["id"]
        oci("create", name, bundle=oci_bundle(name, EXEC_TARGET))
        oci("start", name)
        if podman:
            pod = podman.create(EXEC_TARGET)
            podman.op(pod, "start")
        deadline = time.monotonic() + 10
        while (status := berth_exec.status(bid)) != "running":  # also opens berth_exec's connection, untimed
            if time.monotonic() > deadline:
                raise RuntimeError(f"berth: the exec target is {status}, not running")
            time.sleep(0.01)
        for _ in range(ITER):
            if (EXEC, "berth") not in failures:
                try:
                    timed(samples, (EXEC, "berth"), lambda: berth_exec.exec_true(bid))
                except Exception as e:  # noqa: BLE001 (any failure of this row, reported in the table)
                    failures[(EXEC, "berth")] = str(e) if isinstance(e, RuntimeError) else f"{type(e).__name__}: {e}"
                    print(f"compare: {EXEC} | berth failed, row skipped: {failures[(EXEC, 'berth')]}", file=sys.stderr)
            timed(samples, (EXEC, OCI), lambda: oci("exec", name, "/bin/true"))
            if podman:
                timed(samples, (EXEC, "podman"), lambda: podman.exec_true(pod))
                timed(samples, (EXEC, "podman CLI"), lambda: subprocess.run(
                    ["podman", *PODMAN_FLAGS, "exec", pod, "/bin/true"], check=True,
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    finally:
        if bid:
            Berth().delete(bid)  # berth_exec may be what failed
        subprocess.run(["oci", "delete", "-f", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if pod:
            podman.delete(pod)
            # Each exec session leaves its conmon waiting 300 s (--exit-delay) to run podman's cleanup of
            # a session its container's removal already took: ended here rather than by bench/compare's
            # cleanup, so that they idle through no later row.
            for pid in processes("conmon", WORK, "--exec-process-spec"):
                try:
                    os.kill(pid, 9)
                except ProcessLookupError:
                    pass


def set_frozen(group, want):
    """Writes cgroup.freeze and reads cgroup.events back to back until the kernel says it is done."""
    with open(os.path.join(group, "cgroup.freeze"), "w") as f:
        f.write(want)
    while f"frozen {want}" not in open(os.path.join(group, "cgroup.events")).read():
        pass


def floor(samples):
    group = f"/sys/fs/cgroup/unified/{CGROUP_ROOT}/floor"
    os.makedirs(group, exist_ok=True)
    sleeper = subprocess.Popen(["sleep", "1000"])
    try:
        with open(os.path.join(group, "cgroup.procs"), "w") as f:
            f.write(str(sleeper.pid))
        for _ in range(ITER * 5):
            timed(samples, ("floor: cgroup.freeze round trip", "kernel"),
                  lambda: (set_frozen(group, "1"), set_frozen(group, "0")))
        for _ in range(ITER * 5):
            timed(samples, ("floor: cgroup.freeze alone (a pause's kernel part)", "kernel"), lambda: set_frozen(group, "1"))
            set_frozen(group, "0")
    finally:
        sleeper.kill()
        sleeper.wait()
        time.sleep(0.05)
        os.rmdir(group)
    # Back to back, the tasks have just run; a settled pause must first wake
    # each sleeping task into the freezer, as berth's "pause" row does (0.2 s
    # after the start, the init the same loop).
    loop_group = f"/sys/fs/cgroup/unified/{CGROUP_ROOT}/floor-loop"
    os.makedirs(loop_group, exist_ok=True)
    loop = subprocess.Popen(["sh", "-c", "while :; do sleep 0.1; done"])
    try:
        with open(os.path.join(loop_group, "cgroup.procs"), "w") as f:
            f.write(str(loop.pid))
        for _ in range(ITER * 2):
            time.sleep(0.2)
            timed(samples, (SETTLED_FREEZE, "kernel"), lambda: set_frozen(loop_group, "1"))
            set_frozen(loop_group, "0")
    finally:
        # The loop and its sleep child: everything in the group it made.
        with open(os.path.join(loop_group, "cgroup.kill"), "w") as f:
            f.write("1")
        loop.wait()
        while "populated 0" not in open(os.path.join(loop_group, "cgroup.events")).read():
            time.sleep(0.01)
        os.rmdir(loop_group)
    # A new process's first cgroup.procs write waits for an RCU grace period (the
    # writer side of cgroup_threadgroup_rwsem); writes right after it do not, so
    # the attaches are spaced as starts are.
    v1_group = f"/sys/fs/cgroup/pids/{CGROUP_ROOT}/floor"
    os.makedirs(v1_group, exist_ok=True)
    try:
        for _ in range(ITER):
            sleeper = subprocess.Popen(["sleep", "1000"])
            try:
                time.sleep(0.05)
                with open(os.path.join(v1_group, "cgroup.procs"), "w") as f:
                    timed(samples, (ATTACH_FLOOR, "kernel"), lambda: (f.write(str(sleeper.pid)), f.flush()))
            finally:
                sleeper.kill()
                sleeper.wait()
    finally:
        time.sleep(0.05)
        os.rmdir(v1_group)
    # The disk's floor for one synced page, on the file system of berthd's data dir.
    path = os.path.join(WORK, "floor-page")
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        for i in range(ITER * 5):
            def synced_page():
                os.pwrite(fd, b"x" * 4096, 4096 * (i % 16))
                os.fdatasync(fd)
            timed(samples, ("floor: 4 KiB write + fdatasync, back to back", "kernel"), synced_page)
    finally:
        os.close(fd)
        os.unlink(path)
    # Every REST row rides on an HTTP round trip; this one has a server that does nothing else.
    server = subprocess.Popen([os.path.join(os.environ.get("BERTH_BUILD", "build"), "bench", "bench_api_http_floor")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        port = int(server.stdout.readline().split()[-1])
        client = JsonClient("floor", http.client.HTTPConnection("127.0.0.1", port))
        for _ in range(ITER * 2):
            time.sleep(0.2)
            timed(samples, (HTTP_FLOOR, "kernel"), lambda: client.call("GET", "/"))
        for _ in range(ITER * 2):
            timed(samples, ("floor: HTTP request to a server that does nothing else, back to back", "kernel"),
                  lambda: client.call("GET", "/"))
        client.conn.close()
    finally:
        server.stdin.close()
        server.wait()
    for _ in range(ITER):
        timed(samples, (UNSHARE_FLOOR, "kernel"),
              lambda: subprocess.run(["unshare", "--fork", "--pid", "--mount", "--uts", "--ipc", "--net", "/bin/true"],
                                     check=True))


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def store_commit_floors():
    """Synced LMDB commits of berth's store on the file system of berthd's data dir (bench_store_commit,
    run once): the smallest write back to back, and a pause's commit 0.2 s after the last (as a settled
    pause finds the disk). Their medians and p99s by row name."""
    binary = os.path.join(os.environ.get("BERTH_BUILD", "build"), "bench", "bench_store_commit")
    out = subprocess.run([binary, str(ITER * 5), WORK, "10"], capture_output=True, text=True, check=True).stdout
    wanted = {"one synced commit": COMMIT_FLOOR, "a pause's commit, synced, 0.2 s after the last": SETTLED_COMMIT}
    floors = {}
    for line in out.splitlines():
        for prefix, row in wanted.items():
            if line.startswith(prefix):
                fields = line.split()
                floors[row] = (float(fields[fields.index("median") + 1]), float(fields[fields.index("p99") + 1]))
    if len(floors) != len(wanted):
        raise RuntimeError("bench_store_commit printed no synced commit rows:\n" + out)
    return floors


def runtime_core_to_completion():
    """berth's runtime core without HTTP (bench_runtime_core, its own process and
    store, run once rather than alternated): median and p99 of its /bin/true row."""
    binary = os.path.join(os.environ.get("BERTH_BUILD", "build"), "bench", "bench_runtime_core")
    out = subprocess.run([binary, str(ITER)], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        if line.startswith("run /bin/true"):
            fields = line.split()
            return float(fields[fields.index("median") + 1]), float(fields[fields.index("p99") + 1])
    raise RuntimeError("bench_runtime_core printed no /bin/true row:\n" + out)


def main():
    berth = Berth()
    podman = Podman() if PODMAN_SOCK else None
    memory = {what: {} for what in (MONITOR_PSS, MONITOR_RSS, SERVICE_IDLE, SERVICE_RUNNING)}
    memory[SERVICE_IDLE]["berth"] = mib(kib(f"/proc/{BERTHD_PID}/status", "VmRSS"))
    if podman:
        memory[SERVICE_IDLE]["podman"] = mib(kib(f"/proc/{PODMAN_PID}/status", "VmRSS"))
    samples = {}
    run_to_completion(samples, berth, podman)
    lifecycle(samples, berth, podman)
    parallel(samples, memory, berth, podman)
    # After the parallel rows, so that no exec's process is about while their monitors are counted.
    failures = {}
    exec_in_running(samples, failures, podman is not None)
    floor(samples)
    rows = {}
    for (work, tool), values in samples.items():
        failed = failures.get((work, tool))
        rows.setdefault(work, {})[tool] = failed if failed else (statistics.median(values), pct(values, 0.99))
    rows["run /bin/true to completion"]["berth core (no HTTP)"] = runtime_core_to_completion()
    # The start target of issue 19: 1.5 x (clone with namespaces + exec + one attach), this run's floors.
    floor_ms = rows[UNSHARE_FLOOR]["kernel"][0] + rows[ATTACH_FLOOR]["kernel"][0]
    rows["start"]["target: 1.5 x (unshare + exec + one attach)"] = (1.5 * floor_ms, 1.5 * floor_ms)
    for row, value in store_commit_floors().items():
        rows[row] = {"kernel": value}
    # The pause target of issue 19: freeze + one synced commit + 0.3 ms, with this run's floors back
    # to back and, as the pause row is timed, settled (0.2 s after the last thaw and commit).
    freeze, commit = rows["floor: cgroup.freeze alone (a pause's kernel part)"]["kernel"][0], rows[COMMIT_FLOOR]["kernel"][0]
    rows["pause"]["target: freeze + synced commit + 0.3, back to back"] = (freeze + commit + 0.3,) * 2
    settled = rows[SETTLED_FREEZE]["kernel"][0] + rows[SETTLED_COMMIT]["kernel"][0] + 0.3
    rows["pause"]["target: freeze + synced commit + 0.3, settled"] = (settled, settled)
    with_http = settled - 0.3 + rows[HTTP_FLOOR]["kernel"][0]
    rows["pause"]["sum of the settled floors: HTTP request, freeze, synced commit"] = (with_http, with_http)
    print("| work | tool | median ms | p99 ms | berth/tool (median) |")
    print("|---|---|---|---|---|")
    for work, tools in rows.items():
        base = tools.get("berth")
        base = base if isinstance(base, tuple) else None
        for tool, value in tools.items():
            if isinstance(value, str):
                cell = " ".join(value.split()).replace("|", "\\|")[:200]
                print(f"| {work} | {tool} | failed: {cell} | | |")
                continue
            median, p99 = value
            ratio = f"{base[0] / median:.2f}" if base and tool != "berth" else ""
            print(f"| {work} | {tool} | {median:.2f} | {p99:.2f} | {ratio} |")
    print()
    print("| what | tool | value MiB | berth/tool |")
    print("|---|---|---|---|")
    for what, tools in memory.items():
        base = tools["berth"]
        for tool, value in tools.items():
            if isinstance(value, str):
                print(f"| {what} | {tool} | {value} | |")
                continue
            ratio = f"{base / value:.2f}" if tool != "berth" else ""
            print(f"| {what} | {tool} | {value:.2f} | {ratio} |")
    if failures:
        for (work, tool), message in failures.items():
            print(f"compare: FAILED {work} | {tool}: {message}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
