/* The escape probe: a static program the kernel tests copy into a
 * container's writable layer and run as the container's command. It tries
 * what a container must not do and prints one line per action:
 *
 *   <action> refused:<ERRNO>[ (<note>)]    the kernel said no (the wanted outcome)
 *   <action> refused:read-0-bytes          a masked file read as empty
 *   <action> ALLOWED[ (<note>)]            the action went through: a hole
 *
 * Usage:
 *   escape_probe all <host pid> [<major>:<minor>]  every action; exit 0 only if all were refused
 *   escape_probe <action> <host pid> [<maj>:<min>] one action; exit 0 only if it was refused
 *   escape_probe <host pid> [<major>:<minor>]      as "all" (the older form)
 *   escape_probe status     the security fields of /proc/self/status, one "<Field> <value>" a line
 *   escape_probe control    an action that must be allowed (reports ALLOWED, exit 1): the probe can tell
 *   escape_probe list       the names "all" runs, one a line
 * <host pid> is a pid of the host's (the test's own) for kill-host-pid;
 * <major>:<minor> the host's disk for the mknod actions (default 8:0).
 * The runner mounts a tmpfs without nodev at /dev-mount for the actions named "...-in-/dev-mount".
 * Exit codes: 0 all refused, 1 something allowed, 2 usage.
 *
 * Every argument is harmless even where a call went through: invalid
 * commands for reboot and kexec, the current time for clock changes, bogus
 * module images, paths that do not exist for swapon and acct; sysfs and
 * /proc/sysrq-trigger are only opened, never written. Outside a container
 * (anything but pid 1 of a pid namespace) the probe refuses to run at all. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* What one action came to. */
typedef struct {
  int allowed;
  char detail[48]; /* the errno's name, or what a refusal looked like */
  char note[96];   /* optional: what happened on the way */
} Outcome;

static pid_t hostPid = -1;
static unsigned diskMajor = 8, diskMinor = 0;
static const char kDevMount[] = "/dev-mount";

static const char* errnoName(int err) {
  const char* name = strerrorname_np(err);
  return name ? name : "E?";
}

static Outcome refusedWith(int err) {
  Outcome out = {0};
  snprintf(out.detail, sizeof out.detail, "%s", errnoName(err));
  return out;
}

static Outcome allowed(void) {
  Outcome out = {0};
  out.allowed = 1;
  return out;
}

/* A system call's result: refused with its errno when it failed. */
static Outcome call(long rc) { return rc < 0 ? refusedWith(errno) : allowed(); }

static void addNote(Outcome* out, const char* format, ...) {
  va_list args;
  va_start(args, format);
  vsnprintf(out->note, sizeof out->note, format, args);
  va_end(args);
}

/* A child that waits to be killed: a process of our own to aim at. */
static pid_t sleeper(void) {
  pid_t child = fork();
  if (child == 0) {
    for (;;) pause();
  }
  return child;
}

static void reap(pid_t child) {
  if (child <= 0) return;
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
}

/* ---- the mount tree ---- */

static Outcome mountTmpfs(void) { return call(mount("probe", "/tmp", "tmpfs", 0, "size=1m")); }
static Outcome umountProc(void) { return call(umount2("/proc", MNT_DETACH)); }
/* /tmp is no mount point: EINVAL where the call were allowed. */
static Outcome pivotRoot(void) { return call(syscall(SYS_pivot_root, "/tmp", "/tmp")); }
static Outcome fsopenTmpfs(void) {
  long fd = syscall(SYS_fsopen, "tmpfs", 0);
  if (fd >= 0) close((int)fd);
  return call(fd);
}
static Outcome openTreeClone(void) {
  long fd = syscall(SYS_open_tree, AT_FDCWD, "/", 1 /* OPEN_TREE_CLONE */);
  if (fd >= 0) close((int)fd);
  return call(fd);
}

/* ---- namespaces ---- */

static Outcome unshareUser(void) { return call(unshare(CLONE_NEWUSER)); }
static Outcome unshareMount(void) { return call(unshare(CLONE_NEWNS)); }
/* Our own mount namespace: nothing changes where it were allowed. */
static Outcome setnsMount(void) {
  int fd = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    Outcome out = refusedWith(errno);
    addNote(&out, "could not open /proc/self/ns/mnt");
    return out;
  }
  Outcome out = call(setns(fd, CLONE_NEWNS));
  close(fd);
  return out;
}
static Outcome cloneNewUser(void) {
  long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
  if (pid == 0) _exit(0);
  Outcome out = call(pid);
  if (pid > 0) waitpid((pid_t)pid, NULL, 0);
  return out;
}
static Outcome clone3NewUser(void) {
  /* struct clone_args, version 0: flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls */
  uint64_t args[8] = {0};
  args[0] = CLONE_NEWUSER;
  args[4] = SIGCHLD;
  long pid = syscall(SYS_clone3, args, sizeof args);
  if (pid == 0) _exit(0);
  Outcome out = call(pid);
  if (pid > 0) waitpid((pid_t)pid, NULL, 0);
  return out;
}

/* ---- the host kernel and machine ---- */

static Outcome initModule(void) {
  static const char notAnElf[16] = "not a module";
  return call(syscall(SYS_init_module, notAnElf, sizeof notAnElf, ""));
}
static Outcome finitModule(void) {
  int fd = open("/bin/busybox", O_RDONLY | O_CLOEXEC); /* not a module either */
  Outcome out = call(syscall(SYS_finit_module, fd, "", 0));
  if (fd >= 0) close(fd);
  return out;
}
static Outcome deleteModule(void) { return call(syscall(SYS_delete_module, "berth_probe_none", O_NONBLOCK)); }
/* No segments and an invalid flag: EINVAL where the call were allowed. */
static Outcome kexecLoad(void) { return call(syscall(SYS_kexec_load, 0UL, 0UL, NULL, 0xdead0000UL)); }
static Outcome kexecFileLoad(void) { return call(syscall(SYS_kexec_file_load, -1, -1, 0UL, "", 0UL)); }
/* The magic numbers and a command that does not exist: EINVAL where allowed. */
static Outcome rebootInvalid(void) {
  return call(syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, 0xdeadbeefU, NULL));
}
static Outcome swaponNone(void) { return call(swapon("/tmp/berth-probe-no-swap", 0)); }
static Outcome swapoffNone(void) { return call(swapoff("/tmp/berth-probe-no-swap")); }
static Outcome acctNone(void) { return call(acct("/tmp/berth-probe-no-such-dir/acct")); }
static Outcome ioplRaise(void) { return call(syscall(SYS_iopl, 3)); }
static Outcome iopermPort(void) { return call(syscall(SYS_ioperm, 0x80UL, 1UL, 1)); }
/* The current time, read just before: nothing moves where it were allowed. */
static Outcome clockSettimeNow(void) {
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  return call(clock_settime(CLOCK_REALTIME, &now));
}
static Outcome settimeofdayNow(void) {
  struct timeval now;
  gettimeofday(&now, NULL);
  return call(settimeofday(&now, NULL));
}
static Outcome syslogRead(void) {
  char buf[256];
  return call(syscall(SYS_syslog, 3 /* SYSLOG_ACTION_READ_ALL */, buf, (long)sizeof buf));
}

/* ---- large kernel surface ---- */

static Outcome bpfProgLoad(void) {
  struct bpf_insn program[2];
  memset(program, 0, sizeof program);
  program[0].code = BPF_ALU64 | BPF_MOV | BPF_K; /* r0 = 0 */
  program[1].code = BPF_JMP | BPF_EXIT;
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
  attr.insns = (uint64_t)(uintptr_t)program;
  attr.insn_cnt = 2;
  attr.license = (uint64_t)(uintptr_t) "GPL";
  long fd = syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr);
  if (fd >= 0) close((int)fd);
  return call(fd);
}
static Outcome perfEventOpen(void) {
  struct perf_event_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_CPU_CLOCK;
  attr.disabled = 1;
  long fd = syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0UL);
  if (fd >= 0) close((int)fd);
  return call(fd);
}
static Outcome userfaultfdOpen(void) {
  long fd = syscall(SYS_userfaultfd, O_CLOEXEC);
  if (fd >= 0) close((int)fd);
  return call(fd);
}
static Outcome keyctlSession(void) {
  return call(syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
}
static Outcome addKey(void) {
  return call(syscall(SYS_add_key, "user", "berth-probe", "x", 1UL, KEY_SPEC_PROCESS_KEYRING));
}
static Outcome requestKey(void) {
  return call(syscall(SYS_request_key, "user", "berth-probe", NULL, KEY_SPEC_PROCESS_KEYRING));
}

/* ---- other processes ---- */

static Outcome ptraceAttach(void) {
  pid_t child = sleeper();
  if (child < 0) {
    Outcome out = refusedWith(errno);
    addNote(&out, "fork failed, nothing to attach to");
    return out;
  }
  Outcome out = call(ptrace(PTRACE_ATTACH, child, NULL, NULL));
  reap(child);
  return out;
}
static Outcome processVmReadv(void) {
  static char buf[8];
  pid_t child = sleeper();
  struct iovec local = {buf, sizeof buf}, remote = {buf, sizeof buf};
  Outcome out = call(process_vm_readv(child, &local, 1, &remote, 1, 0));
  reap(child);
  return out;
}
static Outcome processVmWritev(void) {
  static char buf[8];
  pid_t child = sleeper();
  struct iovec local = {buf, sizeof buf}, remote = {buf, sizeof buf};
  Outcome out = call(process_vm_writev(child, &local, 1, &remote, 1, 0));
  reap(child);
  return out;
}
/* Signal 0: only whether the pid can be reached at all. */
static Outcome killHostPid(void) {
  Outcome out = call(kill(hostPid, 0));
  addNote(&out, "host pid %d", (int)hostPid);
  return out;
}

/* ---- files past the mount tree ---- */

static Outcome openByHandleAt(void) {
  struct {
    struct file_handle head;
    unsigned char bytes[8];
  } handle;
  memset(&handle, 0, sizeof handle);
  handle.head.handle_bytes = 8;
  handle.head.handle_type = 1; /* FILEID_INO32_GEN: inode 2 (a root dir), generation 0 */
  handle.bytes[0] = 2;
  int mountFd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  long fd = syscall(SYS_open_by_handle_at, mountFd, &handle.head, O_RDONLY);
  Outcome out = call(fd);
  if (fd >= 0) close((int)fd);
  if (mountFd >= 0) close(mountFd);
  return out;
}
static Outcome nameToHandleAt(void) {
  struct {
    struct file_handle head;
    unsigned char bytes[128];
  } handle;
  memset(&handle, 0, sizeof handle);
  handle.head.handle_bytes = sizeof handle.bytes;
  int mountId = 0;
  return call(syscall(SYS_name_to_handle_at, AT_FDCWD, "/", &handle.head, &mountId, 0));
}

/* ---- /proc, /sys, /dev ---- */

/* A masked file opens (it is /dev/null) and reads nothing. */
static Outcome readsNothing(const char* path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    Outcome out = refusedWith(errno);
    if (errno == ENOENT) addNote(&out, "absent on this kernel");
    return out;
  }
  char buf[256];
  ssize_t n = read(fd, buf, sizeof buf);
  int err = errno;
  close(fd);
  if (n < 0) return refusedWith(err);
  if (n > 0) {
    Outcome out = allowed();
    addNote(&out, "read %zd bytes", n);
    return out;
  }
  Outcome out = {0};
  snprintf(out.detail, sizeof out.detail, "read-0-bytes");
  return out;
}
static Outcome readKcore(void) { return readsNothing("/proc/kcore"); }
static Outcome readKeys(void) { return readsNothing("/proc/keys"); }
static Outcome readTimerList(void) { return readsNothing("/proc/timer_list"); }

/* Kernel addresses hide behind zeros without CAP_SYSLOG. */
static Outcome kallsymsAddresses(void) {
  FILE* file = fopen("/proc/kallsyms", "re");
  if (!file) return refusedWith(errno);
  char line[256];
  int nonZero = 0, lines = 0;
  while (lines < 64 && fgets(line, sizeof line, file)) {
    ++lines;
    if (strtoull(line, NULL, 16) != 0) ++nonZero;
  }
  fclose(file);
  Outcome out = {0};
  if (nonZero > 0) {
    out.allowed = 1;
    addNote(&out, "%d of %d addresses shown", nonZero, lines);
  } else {
    snprintf(out.detail, sizeof out.detail, "addresses-zeroed");
    addNote(&out, "%d lines", lines);
  }
  return out;
}

/* Writes back the container's own hostname: nothing changes where allowed. */
static Outcome writeProcSysHostname(void) {
  int fd = open("/proc/sys/kernel/hostname", O_WRONLY | O_CLOEXEC);
  if (fd < 0) return refusedWith(errno);
  struct utsname names;
  uname(&names);
  Outcome out = call(write(fd, names.nodename, strlen(names.nodename)));
  close(fd);
  return out;
}
/* Only opened for writing, never written. */
static Outcome openForWriting(const char* path) {
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd >= 0) {
    close(fd);
    Outcome out = allowed();
    addNote(&out, "opened for writing (nothing written)");
    return out;
  }
  Outcome out = refusedWith(errno);
  if (errno == ENOENT) addNote(&out, "absent on this kernel");
  return out;
}
static Outcome writeSysrqTrigger(void) { return openForWriting("/proc/sysrq-trigger"); }
static Outcome writeSysKernel(void) { return openForWriting("/sys/kernel/rcu_expedited"); }

static Outcome openDisk(const char* path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd >= 0) close(fd);
  return call(fd);
}
static Outcome openSda(void) { return openDisk("/dev/sda"); }
static Outcome openVda(void) { return openDisk("/dev/vda"); }
static Outcome openNvme(void) { return openDisk("/dev/nvme0n1"); }
static Outcome openLoop(void) { return openDisk("/dev/loop0"); }

/* mknod (CAP_MKNOD is in the default set) then open: what the mount's nodev says. */
static Outcome mknodThenOpen(const char* dir, mode_t type, unsigned maj, unsigned min) {
  char path[128];
  snprintf(path, sizeof path, "%s/berth-probe-node", dir);
  unlink(path);
  if (mknod(path, type | 0600, makedev(maj, min)) != 0) {
    Outcome out = refusedWith(errno);
    addNote(&out, "mknod refused");
    return out;
  }
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  Outcome out = call(fd);
  if (fd >= 0) close(fd);
  addNote(&out, "mknod ok, open %s", fd >= 0 ? "ok" : "refused");
  unlink(path);
  return out;
}
static Outcome mknodDiskTmp(void) { return mknodThenOpen("/tmp", S_IFBLK, diskMajor, diskMinor); }
static Outcome mknodDiskDev(void) { return mknodThenOpen("/dev", S_IFBLK, diskMajor, diskMinor); }
static Outcome mknodDiskShm(void) { return mknodThenOpen("/dev/shm", S_IFBLK, diskMajor, diskMinor); }
static Outcome mknodDiskPts(void) { return mknodThenOpen("/dev/pts", S_IFBLK, diskMajor, diskMinor); }
static Outcome mknodMemTmp(void) { return mknodThenOpen("/tmp", S_IFCHR, 1, 1); } /* /dev/mem */
/* The runner mounts a tmpfs without nodev at /dev-mount (as a volume or an
 * OCI mount may be): only the device cgroup stands between a node and its device. */
static Outcome mknodDiskDevMount(void) { return mknodThenOpen(kDevMount, S_IFBLK, diskMajor, diskMinor); }
static Outcome mknodMemDevMount(void) { return mknodThenOpen(kDevMount, S_IFCHR, 1, 1); }

/* ---- capabilities ---- */

static Outcome capsetSysAdmin(void) {
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  if (syscall(SYS_capget, &header, data) != 0) {
    Outcome out = refusedWith(errno);
    addNote(&out, "capget failed");
    return out;
  }
  data[CAP_TO_INDEX(CAP_SYS_ADMIN)].effective |= CAP_TO_MASK(CAP_SYS_ADMIN);
  data[CAP_TO_INDEX(CAP_SYS_ADMIN)].permitted |= CAP_TO_MASK(CAP_SYS_ADMIN);
  return call(syscall(SYS_capset, &header, data));
}

/* ---- the control: allowed everywhere ---- */

static Outcome controlOpen(void) {
  int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) close(fd);
  return call(fd);
}

/* ---- the table ---- */

typedef struct {
  const char* name;
  Outcome (*run)(void);
} Action;

/* In the order "all" runs them; those that would spoil the others where
 * allowed (umount of /proc) come last. */
static const Action kActions[] = {
    {"mount-tmpfs", mountTmpfs},
    {"pivot_root", pivotRoot},
    {"fsopen", fsopenTmpfs},
    {"open_tree-clone", openTreeClone},
    {"unshare-user", unshareUser},
    {"unshare-mount", unshareMount},
    {"clone-newuser", cloneNewUser},
    {"clone3-newuser", clone3NewUser},
    {"setns-mount", setnsMount},
    {"init_module", initModule},
    {"finit_module", finitModule},
    {"delete_module", deleteModule},
    {"kexec_load", kexecLoad},
    {"kexec_file_load", kexecFileLoad},
    {"reboot", rebootInvalid},
    {"swapon", swaponNone},
    {"swapoff", swapoffNone},
    {"acct", acctNone},
    {"iopl", ioplRaise},
    {"ioperm", iopermPort},
    {"clock_settime", clockSettimeNow},
    {"settimeofday", settimeofdayNow},
    {"syslog-read", syslogRead},
    {"bpf-prog-load", bpfProgLoad},
    {"perf_event_open", perfEventOpen},
    {"userfaultfd", userfaultfdOpen},
    {"keyctl", keyctlSession},
    {"add_key", addKey},
    {"request_key", requestKey},
    {"ptrace-attach-child", ptraceAttach},
    {"process_vm_readv", processVmReadv},
    {"process_vm_writev", processVmWritev},
    {"open_by_handle_at", openByHandleAt},
    {"name_to_handle_at", nameToHandleAt},
    {"read-/proc/kcore", readKcore},
    {"read-/proc/keys", readKeys},
    {"read-/proc/timer_list", readTimerList},
    {"kallsyms-addresses", kallsymsAddresses},
    {"write-/proc/sys/kernel/hostname", writeProcSysHostname},
    {"write-/proc/sysrq-trigger", writeSysrqTrigger},
    {"write-/sys/kernel", writeSysKernel},
    {"open-/dev/sda", openSda},
    {"open-/dev/vda", openVda},
    {"open-/dev/nvme0n1", openNvme},
    {"open-/dev/loop0", openLoop},
    {"mknod-host-disk+open-in-/tmp", mknodDiskTmp},
    {"mknod-host-disk+open-in-/dev", mknodDiskDev},
    {"mknod-host-disk+open-in-/dev/shm", mknodDiskShm},
    {"mknod-host-disk+open-in-/dev/pts", mknodDiskPts},
    {"mknod-/dev/mem+open-in-/tmp", mknodMemTmp},
    {"mknod-host-disk+open-in-/dev-mount", mknodDiskDevMount},
    {"mknod-/dev/mem+open-in-/dev-mount", mknodMemDevMount},
    {"capset-sys_admin", capsetSysAdmin},
    {"kill-host-pid", killHostPid},
    {"umount2-/proc", umountProc},
};
static const size_t kActionCount = sizeof kActions / sizeof kActions[0];

/* Prints the action's line; returns 1 if it was refused. */
static int runAction(const Action* action) {
  errno = 0;
  Outcome out = action->run();
  if (out.allowed) printf("%s ALLOWED", action->name);
  else printf("%s refused:%s", action->name, out.detail);
  if (out.note[0]) printf(" (%s)", out.note);
  printf("\n");
  return !out.allowed;
}

static void printStatus(void) {
  static const char* const kFields[] = {"NoNewPrivs", "Seccomp", "Seccomp_filters", "CapInh",
                                        "CapPrm",     "CapEff",  "CapBnd",          "CapAmb"};
  FILE* status = fopen("/proc/self/status", "re");
  if (!status) {
    printf("status unreadable:%s\n", errnoName(errno));
    return;
  }
  char line[256];
  while (fgets(line, sizeof line, status)) {
    char* colon = strchr(line, ':');
    if (!colon) continue;
    *colon = '\0';
    for (size_t i = 0; i < sizeof kFields / sizeof kFields[0]; ++i) {
      if (strcmp(line, kFields[i]) != 0) continue;
      char* value = colon + 1;
      value += strspn(value, " \t");
      printf("%s %s", line, value); /* value keeps its newline */
    }
  }
  fclose(status);
}

static int usage(void) {
  fprintf(stderr,
          "usage: escape_probe all|<action> <host pid> [<major>:<minor>]\n"
          "       escape_probe <host pid> [<major>:<minor>]\n"
          "       escape_probe status|control|list\n");
  return 2;
}

static int parsePid(const char* text, pid_t* pid) {
  char* end = NULL;
  long value = strtol(text, &end, 10);
  if (end == text || *end != '\0' || value <= 0) return 0;
  *pid = (pid_t)value;
  return 1;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc < 2) return usage();
  const char* what = argv[1];
  int next = 2;
  pid_t pid;
  if (parsePid(argv[1], &pid)) { /* the older form: "<host pid> [<major>:<minor>]" */
    what = "all";
    next = 1;
  }

  if (strcmp(what, "list") == 0) {
    for (size_t i = 0; i < kActionCount; ++i) printf("%s\n", kActions[i].name);
    return 0;
  }
  /* On the host, as root, a few of these would do real harm. */
  if (getpid() != 1) {
    fprintf(stderr, "escape_probe: runs only as a container's command (pid 1 of its pid namespace)\n");
    return 2;
  }
  if (strcmp(what, "status") == 0) {
    printStatus();
    return 0;
  }
  if (strcmp(what, "control") == 0) {
    static const Action kControl = {"control-open-/proc/self/status", controlOpen};
    return runAction(&kControl) ? 0 : 1;
  }

  if (next >= argc || !parsePid(argv[next], &hostPid)) return usage();
  if (next + 1 < argc && sscanf(argv[next + 1], "%u:%u", &diskMajor, &diskMinor) != 2) return usage();

  if (strcmp(what, "all") == 0) {
    int refusedAll = 1;
    for (size_t i = 0; i < kActionCount; ++i) refusedAll &= runAction(&kActions[i]);
    return refusedAll ? 0 : 1;
  }
  for (size_t i = 0; i < kActionCount; ++i) {
    if (strcmp(what, kActions[i].name) == 0) return runAction(&kActions[i]) ? 0 : 1;
  }
  fprintf(stderr, "escape_probe: no action \"%s\" (see: escape_probe list)\n", what);
  return 2;
}
