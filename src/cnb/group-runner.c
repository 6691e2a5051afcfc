/*
 * berth's group runner: runs a list of commands one after another in one container, each exactly as if it
 * had the container to itself (the detect phase's `bin/detect`s of one group; src/cnb/group-runner.ts).
 * Compiled static (`gcc -static -Os`) by berth on first use, as the launcher is, and bind-mounted read-only
 * into the build container, where it is the container's process (PID 1 of its PID namespace).
 *
 * Input, on stdin, NUL-terminated strings: "berth-group-runner/2", then batches until stdin ends, each
 *   N, then N times: cwd, argc, argv..., envc, env...
 * (one container for the whole detect phase: a batch per group, the next sent when the last has ended).
 * Each command runs with the runner's own environment (the sandbox's PATH, HOSTNAME, HOME) overlaid by its
 * env as runtime/spec.ts `mergeEnv` does (a key keeps its first place and takes its last value; `K` alone
 * removes K; HOME, when none is left, the runner's, as runc sets it), stdin /dev/null, stdout and stderr each its own pipe, in its cwd, with default signal
 * dispositions; argv[0] without a slash is looked up in that env's PATH, and checked, as runc does.
 *
 * Output, on stdout, records of a 9-byte header (type, command index as u32 LE, length as u32 LE) and data:
 *   'o' / 'e': a chunk of the command's stdout / stderr, as it comes;
 *   'f': the command could not be started, as runc refuses to start a container: errno (u32 LE), the step
 *        ("chdir", "lookup", "stat", "access") NUL-terminated, then runc's words for it;
 *   'x': it ended: its exit code (u32 LE), 128 + the signal's number when a signal ended it;
 *   'b': the batch has ended (index 0, no data).
 * When a command's process ends, everything it left running is killed (kill(-1) from PID 1: what the end of
 * a container does) and reaped, its pipes are read to their end, and /dev/shm (a fresh tmpfs per container)
 * is emptied; then the next command starts. The runner cannot be traced or read through /proc by the
 * commands (not dumpable), and they never hold its stdout, so no command can forge another's records.
 * Exit status: 0 when every command ran (whatever their codes), 2 on bad input or a failure of its own.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static void fail(const char *what) {
  fprintf(stderr, "berth group runner: %s: %s\n", what, strerror(errno));
  exit(2);
}

static void bad_input(const char *what) {
  fprintf(stderr, "berth group runner: bad input: %s\n", what);
  exit(2);
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) fail("malloc");
  return p;
}

/* ---- input ---- */

static char *input;
static size_t input_len, input_pos, input_cap;

/* More of stdin into the buffer; 0 at its end. */
static int fill(void) {
  if (input_pos > 0) {
    memmove(input, input + input_pos, input_len - input_pos);
    input_len -= input_pos;
    input_pos = 0;
  }
  if (input_len == input_cap) {
    input_cap = input_cap ? input_cap * 2 : 1 << 16;
    input = realloc(input, input_cap);
    if (!input) fail("realloc");
  }
  for (;;) {
    ssize_t n = read(0, input + input_len, input_cap - input_len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail("reading stdin");
    input_len += (size_t)n;
    return n > 0;
  }
}

/* The next string (a copy), or NULL when stdin ends before it starts; ending inside one is bad input. */
static char *next_string_or_end(void) {
  for (;;) {
    char *s = input + input_pos;
    char *end = input_len > input_pos ? memchr(s, '\0', input_len - input_pos) : NULL;
    if (end) {
      input_pos = (size_t)(end - input) + 1;
      return strdup(s);
    }
    if (!fill()) {
      if (input_len > input_pos) bad_input("a string is not NUL-terminated");
      return NULL;
    }
  }
}

static char *next_string(void) {
  char *s = next_string_or_end();
  if (!s) bad_input("it ends early");
  return s;
}

static size_t parse_count(char *s) {
  char *end;
  errno = 0;
  unsigned long n = strtoul(s, &end, 10);
  if (errno || *s == '\0' || *end != '\0' || n > 1000000) bad_input("a count is not a number");
  free(s);
  return (size_t)n;
}

static char **next_list(void) {
  size_t n = parse_count(next_string());
  char **list = xmalloc((n + 1) * sizeof *list);
  for (size_t i = 0; i < n; i++) list[i] = next_string();
  list[n] = NULL;
  return list;
}

static void free_list(char **list) {
  for (char **p = list; *p; p++) free(*p);
  free(list);
}

/* ---- environment (runtime/spec.ts mergeEnv) ---- */

static size_t key_len(const char *e) {
  const char *eq = strchr(e, '=');
  return eq ? (size_t)(eq - e) : strlen(e);
}

static char **merge_env(char **changes) {
  size_t nb = 0, nc = 0;
  while (environ[nb]) nb++;
  while (changes[nc]) nc++;
  char **out = xmalloc((nb + nc + 2) * sizeof *out);
  size_t n = 0;
  char **sources[2] = {environ, changes};
  for (int s = 0; s < 2; s++) {
    for (char **e = sources[s]; *e; e++) {
      const char *eq = strchr(*e, '=');
      if (eq == *e) continue;
      size_t k = key_len(*e);
      size_t at = n;
      for (size_t i = 0; i < n; i++) {
        if (out[i] && key_len(out[i]) == k && strncmp(out[i], *e, k) == 0) at = i;
      }
      if (!eq) {
        if (at < n) out[at] = NULL;
        continue;
      }
      out[at] = *e;
      if (at == n) n++;
    }
  }
  size_t m = 0;
  int home = 0;
  for (size_t i = 0; i < n; i++) {
    if (!out[i]) continue;
    if (strncmp(out[i], "HOME=", 5) == 0) home = 1;
    out[m++] = out[i];
  }
  /* runc sets HOME, last, when the env has none: the user's (the sandbox gives the runner that one). */
  char *own = home ? NULL : getenv("HOME");
  if (own) out[m++] = own - 5;
  out[m] = NULL;
  return out;
}

/* ---- output records ---- */

static void write_all(const void *p, size_t n) {
  const char *b = p;
  while (n > 0) {
    ssize_t w = write(1, b, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) fail("writing stdout");
    b += w;
    n -= (size_t)w;
  }
}

static void put_u32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)v;
  p[1] = (unsigned char)(v >> 8);
  p[2] = (unsigned char)(v >> 16);
  p[3] = (unsigned char)(v >> 24);
}

static void record(char type, size_t index, const void *data, size_t len) {
  unsigned char h[9];
  h[0] = (unsigned char)type;
  put_u32(h + 1, (uint32_t)index);
  put_u32(h + 5, (uint32_t)len);
  write_all(h, sizeof h);
  if (len) write_all(data, len);
}

static void record_exit(size_t index, int code) {
  unsigned char b[4];
  put_u32(b, (uint32_t)code);
  record('x', index, b, sizeof b);
}

/* ---- one command ---- */

/* strerror as Go spells errors ("no such file or directory"), as runc prints them. */
static const char *errstr(int e) {
  static char buf[256];
  snprintf(buf, sizeof buf, "%s", strerror(e));
  if (buf[0] >= 'A' && buf[0] <= 'Z') buf[0] = (char)(buf[0] - 'A' + 'a');
  return buf;
}

/* The child could not be started, as runc refuses to start a container: errno, the step, runc's words. */
static void refuse(int report, int e, const char *step, const char *fmt, const char *a, const char *b) {
  char msg[8192];
  put_u32((unsigned char *)msg, (uint32_t)e);
  int n = snprintf(msg + 4, sizeof msg - 4, "%s%c", step, '\0');
  int m = snprintf(msg + 4 + n, sizeof msg - 4 - (size_t)n, fmt, a, b, errstr(e));
  if (m < 0) m = 0;
  if ((size_t)m > sizeof msg - 5 - (size_t)n) m = (int)(sizeof msg - 5 - (size_t)n);
  ssize_t w = write(report, msg, 4 + (size_t)n + (size_t)m);
  (void)w;
  _exit(127);
}

/* argv[0] without a slash, looked up in the command's PATH (Go's exec.LookPath, as runc). */
static const char *look_path(const char *name, char **env, char *buf, size_t size) {
  const char *path = "";
  for (char **e = env; *e; e++)
    if (strncmp(*e, "PATH=", 5) == 0) path = *e + 5;
  for (const char *p = path;; p++) {
    const char *end = strchrnul(p, ':');
    int n = snprintf(buf, size, "%.*s/%s", (int)(end - p), end == p ? "." : p, name);
    struct stat st;
    if (n > 0 && (size_t)n < size && stat(buf, &st) == 0 && !S_ISDIR(st.st_mode) && (st.st_mode & 0111))
      return buf;
    if (*end == '\0') return NULL;
    p = end;
  }
}

/*
 * The child: its stdio, cwd and signals, then runc's checks and exec. What runc refuses before the container
 * starts (cwd, a missing or non-executable program) goes to `report`; an exec that fails after (a missing
 * interpreter, a file that is no program) is printed on stderr with exit 1, as runc's init does.
 */
static void child(char *cwd, char **argv, char **env, int devnull, int out, int err, int report) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
  if (getpid() != 1) setpgid(0, 0);
  if (dup2(devnull, 0) < 0 || dup2(out, 1) < 0 || dup2(err, 2) < 0) _exit(127);
  if (chdir(cwd) < 0) refuse(report, errno, "chdir", "chdir to cwd (\"%s\")%s: %s", cwd, "");
  char buf[4096];
  const char *path = argv[0];
  struct stat st;
  if (!strchr(argv[0], '/')) {
    path = look_path(argv[0], env, buf, sizeof buf);
    if (!path)
      refuse(report, ENOENT, "lookup", "exec: \"%s\"%s: executable file not found in $PATH", argv[0], "");
  } else if (stat(path, &st) < 0) {
    refuse(report, errno, "stat", "exec: \"%s\": stat %s: %s", argv[0], path);
  }
  if (access(path, X_OK) < 0) refuse(report, errno, "access", "exec: \"%s\"%s: %s", argv[0], "");
  execve(path, argv, env);
  fprintf(stderr, "exec %s: %s\n", path, errstr(errno));
  fflush(stderr);
  _exit(1);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  if (ftw->level > 0) remove(path);
  return 0;
}

/* What the end of a container does to what a command left behind. */
static void end_of_container(pid_t pid) {
  if (getpid() == 1) kill(-1, SIGKILL);
  else kill(-pid, SIGKILL);
  while (waitpid(-1, NULL, 0) > 0 || errno == EINTR) {
  }
  if (getpid() == 1) nftw("/dev/shm", remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Pass the command's output on until both pipes end; `pidfd` readable means its process ended. */
static int pump(size_t index, int out, int err, int pidfd, pid_t pid) {
  struct pollfd fds[3] = {{out, POLLIN, 0}, {err, POLLIN, 0}, {pidfd, POLLIN, 0}};
  static char buf[1 << 16];
  int status = 0, ended = 0;
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    if (poll(fds, 3, -1) < 0) {
      if (errno == EINTR) continue;
      fail("poll");
    }
    for (int k = 0; k < 2; k++) {
      if (fds[k].fd < 0 || !(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = read(fds[k].fd, buf, sizeof buf);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        close(fds[k].fd);
        fds[k].fd = -1;
        continue;
      }
      record(k == 0 ? 'o' : 'e', index, buf, (size_t)n);
    }
    if (!ended && fds[2].fd >= 0 && (fds[2].revents & POLLIN)) {
      if (waitpid(pid, &status, 0) == pid) {
        ended = 1;
        fds[2].fd = -1;
        end_of_container(pid);
      }
    }
  }
  if (!ended) {
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    end_of_container(pid);
  }
  return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
}

static void run(size_t index, char *cwd, char **argv, char **changes, int devnull) {
  char **env = merge_env(changes);
  int out[2], err[2], report[2];
  if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 || pipe2(report, O_CLOEXEC) < 0)
    fail("pipe");
  pid_t pid = fork();
  if (pid < 0) fail("fork");
  if (pid == 0) child(cwd, argv, env, devnull, out[1], err[1], report[1]);
  free(env);
  close(out[1]);
  close(err[1]);
  close(report[1]);
  static unsigned char msg[8192];
  ssize_t n;
  while ((n = read(report[0], msg, sizeof msg)) < 0 && errno == EINTR) {
  }
  close(report[0]);
  if (n >= 4) {
    while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
    }
    close(out[0]);
    close(err[0]);
    end_of_container(pid);
    record('f', index, msg, (size_t)n);
    return;
  }
  int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
  int code = pump(index, out[0], err[0], pidfd, pid);
  if (pidfd >= 0) close(pidfd);
  record_exit(index, code);
}

int main(void) {
  /* Not dumpable: a command running as the same user cannot ptrace the runner or open its /proc fds. */
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) fail("prctl");
  char *magic = next_string();
  if (strcmp(magic, "berth-group-runner/2") != 0) bad_input("not berth-group-runner/2");
  free(magic);
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull < 0) fail("opening /dev/null");
  /* Batches until stdin ends: each command, then 'b'. */
  for (char *count; (count = next_string_or_end());) {
    size_t n = parse_count(count);
    for (size_t i = 0; i < n; i++) {
      char *cwd = next_string();
      char **argv = next_list();
      char **env = next_list();
      if (!argv[0]) bad_input("a command without arguments");
      run(i, cwd, argv, env, devnull);
      free(cwd);
      free_list(argv);
      free_list(env);
    }
    record('b', 0, NULL, 0);
  }
  return 0;
}
