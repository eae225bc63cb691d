/* Runs inside a container and tries what a container must not do: each
 * action prints "<name> <outcome>" where outcome is "refused:<ERRNO>" or
 * "ALLOWED". Exits 0 only if every action was refused.
 *   /probe <host pid to signal> <major:minor of a host disk>
 * Arguments are harmless even where a call would be allowed (the current
 * time for clock changes, invalid commands for reboot and kexec). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/keyctl.h>
#include <linux/perf_event.h>
#include <linux/reboot.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/capability.h>

static int refusedAll = 1;

static void report(const char* name, long rc) {
  if (rc < 0) {
    printf("%s refused:%s\n", name, strerrorname_np(errno) ? strerrorname_np(errno) : "?");
  } else {
    printf("%s ALLOWED\n", name);
    refusedAll = 0;
  }
}

static long readsNothing(const char* path) {
  int fd = open(path, O_RDONLY);
  if (fd < 0) return -1;
  char buf[64];
  ssize_t n = read(fd, buf, sizeof buf);
  close(fd);
  if (n <= 0) {
    errno = n == 0 ? ENODATA : errno;
    return -1;
  }
  return 0;
}

int main(int argc, char** argv) {
  pid_t hostPid = argc > 1 ? (pid_t)atoi(argv[1]) : 1;
  setvbuf(stdout, NULL, _IOLBF, 0);

  report("mount", mount("none", "/tmp", "tmpfs", 0, NULL));
  report("umount2", umount2("/proc", MNT_DETACH));
  report("unshare-user", unshare(CLONE_NEWUSER));
  report("unshare-mount", unshare(CLONE_NEWNS));
  int nsfd = open("/proc/self/ns/net", O_RDONLY);
  report("setns", setns(nsfd, 0));
  report("init_module", syscall(SYS_init_module, NULL, 0, ""));
  report("finit_module", syscall(SYS_finit_module, -1, "", 0));
  report("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0xdeadUL));
  report("reboot", syscall(SYS_reboot, LINUX_REBOOT_MAGIC1, LINUX_REBOOT_MAGIC2, 0xdeadbeef, NULL));
  union bpf_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
  report("bpf", syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr));
  struct perf_event_attr pe;
  memset(&pe, 0, sizeof pe);
  pe.size = sizeof pe;
  pe.type = PERF_TYPE_SOFTWARE;
  pe.config = PERF_COUNT_SW_CPU_CLOCK;
  report("perf_event_open", syscall(SYS_perf_event_open, &pe, 0, -1, -1, 0));
  report("keyctl", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
  report("add_key", syscall(SYS_add_key, "user", "probe", "x", 1, KEY_SPEC_PROCESS_KEYRING));
  pid_t child = fork();
  if (child == 0) {
    pause();
    _exit(0);
  }
  report("ptrace-attach", ptrace(PTRACE_ATTACH, child, NULL, NULL));
  char buf[8];
  struct iovec local = {buf, sizeof buf}, remote = {buf, sizeof buf};
  report("process_vm_readv", process_vm_readv(child, &local, 1, &remote, 1, 0));
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  report("userfaultfd", syscall(SYS_userfaultfd, 0));
  report("open_by_handle_at", syscall(SYS_open_by_handle_at, AT_FDCWD, NULL, O_RDONLY));
  report("iopl", syscall(SYS_iopl, 3));
  report("ioperm", syscall(SYS_ioperm, 0x80, 1, 1));
  report("acct", acct("/tmp/acct"));
  struct timespec now;
  clock_gettime(CLOCK_REALTIME, &now);
  report("clock_settime", clock_settime(CLOCK_REALTIME, &now));
  struct timeval tv = {now.tv_sec, 0};
  report("settimeofday", settimeofday(&tv, NULL));
  report("swapon", swapon("/tmp/none", 0));
  report("read-/proc/kcore", readsNothing("/proc/kcore"));
  int sysctl = open("/proc/sys/kernel/hostname", O_WRONLY);
  report("write-/proc/sys", sysctl < 0 ? -1 : write(sysctl, "x", 1));
  const char* disks[] = {"/dev/sda", "/dev/vda", "/dev/nvme0n1", "/dev/loop0"};
  for (size_t i = 0; i < sizeof disks / sizeof *disks; ++i) {
    char name[64];
    snprintf(name, sizeof name, "open-%s", disks[i]);
    report(name, open(disks[i], O_RDONLY));
  }
  unsigned major = 8, minor = 0;
  if (argc > 2) sscanf(argv[2], "%u:%u", &major, &minor);
  const char* nodes[] = {"/tmp/disk", "/dev/disk"};
  for (size_t i = 0; i < sizeof nodes / sizeof *nodes; ++i) {
    char name[64];
    snprintf(name, sizeof name, "mknod+open-host-disk-%s", nodes[i]);
    long made = mknod(nodes[i], S_IFBLK | 0600, makedev(major, minor));
    report(name, made < 0 ? made : open(nodes[i], O_RDONLY));
  }
  struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  memset(data, 0, sizeof data);
  syscall(SYS_capget, &header, data);
  data[0].effective |= 1u << CAP_SYS_ADMIN;
  data[0].permitted |= 1u << CAP_SYS_ADMIN;
  report("capset-sys_admin", syscall(SYS_capset, &header, data));
  report("kill-host-pid", kill(hostPid, 0));
  return refusedAll ? 0 : 1;
}
