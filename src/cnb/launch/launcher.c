/*
 * berth's CNB launcher: the launch sequence of the Platform API for app images berth exports when the
 * builder carries no lifecycle launcher. Compiled static (`gcc -static -Os`) by berth at export time and
 * placed at /cnb/lifecycle/launcher; /cnb/process/<type> are symlinks to it. It needs nothing else in the
 * image: no shell, no libc, no berth.
 *
 * It reads <layers>/config/launch.berth (written by berth's exporter; NUL-separated tokens):
 *   "berth-launch" "1"
 *   "bp" <buildpack dir name>                            one per buildpack, in group order
 *   "proc" <type> <working-dir or ""> <n> <command…> <m> <args…>
 *   "default" <type>
 * and then, as the lifecycle's launcher does:
 *   chdir <app>; strip the CNB_* platform variables and /cnb/process, /cnb/lifecycle from PATH;
 *   for each buildpack and each of its layer dirs (bytewise order): bin → PATH, lib → LD_LIBRARY_PATH
 *   (prepended), then the env files of env/, env.launch/, env.launch/<type>/ by the suffix rules;
 *   exec.d/ and exec.d/<type>/ programs (TOML on fd 3); for a shell command, profile.d/ and <app>/.profile;
 *   chdir working-dir; execvp command + (user args, else the process's args).
 * The process is chosen by the basename of argv[0]; as `launcher`, `-- cmd args` runs cmd directly and
 * `cmd args` runs through /bin/sh with the profiles sourced; with no args, the default process.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#define EXIT_LAUNCH 82

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("ERROR: launcher: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(EXIT_LAUNCH);
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) die("out of memory");
  return p;
}

static char *xstrdup(const char *s) {
  char *p = strdup(s);
  if (!p) die("out of memory");
  return p;
}

static char *join2(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  char *p = xmalloc(la + lb + 2);
  memcpy(p, a, la);
  p[la] = '/';
  memcpy(p + la + 1, b, lb + 1);
  return p;
}

static char *concat3(const char *a, const char *b, const char *c) {
  size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
  char *p = xmalloc(la + lb + lc + 1);
  memcpy(p, a, la);
  memcpy(p + la, b, lb);
  memcpy(p + la + lb, c, lc + 1);
  return p;
}

/* Read a whole file; returns NULL (errno set) when it cannot be read. */
static char *read_file(const char *path, size_t *len) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  size_t cap = 4096, n = 0;
  char *buf = xmalloc(cap + 1);
  for (;;) {
    if (n == cap) {
      cap *= 2;
      buf = realloc(buf, cap + 1);
      if (!buf) die("out of memory");
    }
    ssize_t r = read(fd, buf + n, cap - n);
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      close(fd);
      free(buf);
      errno = e;
      return NULL;
    }
    if (r == 0) break;
    n += (size_t)r;
  }
  close(fd);
  buf[n] = '\0';
  if (len) *len = n;
  return buf;
}

static int is_dir(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int cmp_names(const struct dirent **a, const struct dirent **b) {
  return strcmp((*a)->d_name, (*b)->d_name);
}

static int not_dot(const struct dirent *d) {
  return strcmp(d->d_name, ".") != 0 && strcmp(d->d_name, "..") != 0;
}

/* Entries of a directory in bytewise order; 0 entries when it does not exist. */
static int list_dir(const char *dir, struct dirent ***out) {
  int n = scandir(dir, out, not_dot, cmp_names);
  if (n < 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      *out = NULL;
      return 0;
    }
    die("reading %s: %s", dir, strerror(errno));
  }
  return n;
}

static void free_list(struct dirent **l, int n) {
  for (int i = 0; i < n; i++) free(l[i]);
  free(l);
}

/* ---- the launch file ---- */

struct process {
  const char *type;
  const char *workdir;
  int ncommand;
  const char **command;
  int nargs;
  const char **args;
};

static const char **buildpacks;
static int nbuildpacks;
static struct process *processes;
static int nprocesses;
static const char *default_type;

static void load_launch_file(const char *layers) {
  char *path = join2(layers, "config/launch.berth");
  size_t len;
  char *buf = read_file(path, &len);
  if (!buf) die("reading %s: %s", path, strerror(errno));
  /* Tokens are NUL-terminated. */
  size_t cap = 16, ntok = 0;
  const char **tok = xmalloc(cap * sizeof *tok);
  for (size_t i = 0; i < len;) {
    if (ntok == cap) {
      cap *= 2;
      tok = realloc(tok, cap * sizeof *tok);
      if (!tok) die("out of memory");
    }
    tok[ntok++] = buf + i;
    i += strlen(buf + i) + 1;
  }
  if (ntok < 2 || strcmp(tok[0], "berth-launch") != 0 || strcmp(tok[1], "1") != 0)
    die("%s is not a berth launch file of version 1", path);
  buildpacks = xmalloc(ntok * sizeof *buildpacks);
  processes = xmalloc(ntok * sizeof *processes);
  size_t i = 2;
#define NEED(k) \
  if (i + (k) > ntok) die("%s is truncated", path)
  while (i < ntok) {
    const char *kind = tok[i++];
    if (strcmp(kind, "bp") == 0) {
      NEED(1);
      buildpacks[nbuildpacks++] = tok[i++];
    } else if (strcmp(kind, "default") == 0) {
      NEED(1);
      default_type = tok[i++];
    } else if (strcmp(kind, "proc") == 0) {
      NEED(3);
      struct process *p = &processes[nprocesses++];
      p->type = tok[i++];
      p->workdir = tok[i++];
      p->ncommand = atoi(tok[i++]);
      NEED((size_t)p->ncommand + 1);
      p->command = &tok[i];
      i += (size_t)p->ncommand;
      p->nargs = atoi(tok[i++]);
      NEED((size_t)p->nargs);
      p->args = &tok[i];
      i += (size_t)p->nargs;
      if (p->ncommand < 1) die("process %s has no command", p->type);
    } else {
      die("%s: unknown record %s", path, kind);
    }
  }
#undef NEED
  free(path);
}

static struct process *find_process(const char *type) {
  for (int i = 0; i < nprocesses; i++)
    if (strcmp(processes[i].type, type) == 0) return &processes[i];
  return NULL;
}

/* ---- the environment ---- */

static void set(const char *name, const char *value) {
  if (setenv(name, value, 1) != 0) die("setting %s: %s", name, strerror(errno));
}

static void prepend(const char *name, const char *value, const char *delim) {
  const char *old = getenv(name);
  if (old && *old) {
    char *v = concat3(value, delim, old);
    set(name, v);
    free(v);
  } else {
    set(name, value);
  }
}

static void append(const char *name, const char *value, const char *delim) {
  const char *old = getenv(name);
  if (old && *old) {
    char *v = concat3(old, delim, value);
    set(name, v);
    free(v);
  } else {
    set(name, value);
  }
}

/* Remove /cnb/process and /cnb/lifecycle from PATH and the platform's variables from the environment. */
static void clean_env(void) {
  static const char *strip[] = {"CNB_LAYERS_DIR", "CNB_APP_DIR", "CNB_PROCESS_TYPE", "CNB_PLATFORM_API",
                                "CNB_DEPRECATION_MODE", NULL};
  for (int i = 0; strip[i]; i++) unsetenv(strip[i]);
  const char *path = getenv("PATH");
  if (!path) return;
  char *copy = xstrdup(path);
  char *out = xmalloc(strlen(path) + 1);
  out[0] = '\0';
  char *save = NULL;
  int first = 1;
  for (char *p = strtok_r(copy, ":", &save); p; p = strtok_r(NULL, ":", &save)) {
    if (strcmp(p, "/cnb/process") == 0 || strcmp(p, "/cnb/lifecycle") == 0) continue;
    if (!first) strcat(out, ":");
    strcat(out, p);
    first = 0;
  }
  set("PATH", out);
  free(copy);
  free(out);
}

/* Apply one env directory by the suffix rules (override, default, append, prepend, delim). */
static void apply_env_dir(const char *dir) {
  struct dirent **list;
  int n = list_dir(dir, &list);
  for (int i = 0; i < n; i++) {
    const char *fname = list[i]->d_name;
    char *path = join2(dir, fname);
    if (!is_file(path)) {
      free(path);
      continue;
    }
    char *name = xstrdup(fname);
    char *dot = strchr(name, '.');
    const char *suffix = "";
    if (dot) {
      *dot = '\0';
      suffix = dot + 1;
    }
    if (strcmp(suffix, "delim") == 0 || name[0] == '\0') {
      free(name);
      free(path);
      continue;
    }
    char *value = read_file(path, NULL);
    if (!value) die("reading %s: %s", path, strerror(errno));
    if (strcmp(suffix, "") == 0 || strcmp(suffix, "override") == 0) {
      set(name, value);
    } else if (strcmp(suffix, "default") == 0) {
      if (getenv(name) == NULL) set(name, value);
    } else if (strcmp(suffix, "append") == 0 || strcmp(suffix, "prepend") == 0) {
      char *delim_path = concat3(dir, "/", name);
      char *dp = concat3(delim_path, ".delim", "");
      char *delim = read_file(dp, NULL);
      if (suffix[0] == 'a')
        append(name, value, delim ? delim : "");
      else
        prepend(name, value, delim ? delim : "");
      free(delim);
      free(dp);
      free(delim_path);
    }
    free(value);
    free(name);
    free(path);
  }
  free_list(list, n);
}

/* Calls fn(layer dir) for every layer of every buildpack, in order. */
static void each_layer(const char *layers, void (*fn)(const char *layer, const char *type), const char *type) {
  for (int b = 0; b < nbuildpacks; b++) {
    char *bpdir = join2(layers, buildpacks[b]);
    struct dirent **list;
    int n = list_dir(bpdir, &list);
    for (int i = 0; i < n; i++) {
      char *layer = join2(bpdir, list[i]->d_name);
      if (is_dir(layer)) fn(layer, type);
      free(layer);
    }
    free_list(list, n);
    free(bpdir);
  }
}

static void env_for_layer(const char *layer, const char *type) {
  char *bin = join2(layer, "bin");
  if (is_dir(bin)) prepend("PATH", bin, ":");
  free(bin);
  char *lib = join2(layer, "lib");
  if (is_dir(lib)) prepend("LD_LIBRARY_PATH", lib, ":");
  free(lib);
  char *env = join2(layer, "env");
  apply_env_dir(env);
  free(env);
  char *launch = join2(layer, "env.launch");
  apply_env_dir(launch);
  if (type) {
    char *proc = join2(launch, type);
    apply_env_dir(proc);
    free(proc);
  }
  free(launch);
}

/* ---- exec.d ---- */

static char *unescape_toml_basic(const char *s, const char *end) {
  char *out = xmalloc((size_t)(end - s) + 1);
  size_t n = 0;
  for (const char *p = s; p < end; p++) {
    if (*p != '\\' || p + 1 >= end) {
      out[n++] = *p;
      continue;
    }
    p++;
    switch (*p) {
    case 'n': out[n++] = '\n'; break;
    case 't': out[n++] = '\t'; break;
    case 'r': out[n++] = '\r'; break;
    case 'b': out[n++] = '\b'; break;
    case 'f': out[n++] = '\f'; break;
    case '"': out[n++] = '"'; break;
    case '\\': out[n++] = '\\'; break;
    default: out[n++] = '\\'; out[n++] = *p; break;
    }
  }
  out[n] = '\0';
  return out;
}

/* Parse the `NAME = "value"` lines an exec.d program wrote and set them. */
static void apply_exec_d_output(const char *prog, char *text) {
  char *save = NULL;
  for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
    while (*line == ' ' || *line == '\t') line++;
    if (*line == '\0' || *line == '#') continue;
    char *eq = strchr(line, '=');
    if (!eq) die("exec.d %s: output line is not NAME = \"value\": %s", prog, line);
    char *kend = eq;
    while (kend > line && (kend[-1] == ' ' || kend[-1] == '\t')) kend--;
    char *key = line;
    if (*key == '"' && kend > key + 1 && kend[-1] == '"') {
      key++;
      kend--;
    }
    *kend = '\0';
    char *v = eq + 1;
    while (*v == ' ' || *v == '\t') v++;
    char *vend = v + strlen(v);
    while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t' || vend[-1] == '\r')) vend--;
    char *value;
    if (vend - v >= 2 && *v == '"' && vend[-1] == '"') {
      value = unescape_toml_basic(v + 1, vend - 1);
    } else if (vend - v >= 2 && *v == '\'' && vend[-1] == '\'') {
      value = xmalloc((size_t)(vend - v));
      memcpy(value, v + 1, (size_t)(vend - v - 2));
      value[vend - v - 2] = '\0';
    } else {
      die("exec.d %s: value of %s is not a TOML string", prog, key);
    }
    set(key, value);
    free(value);
  }
}

static void run_exec_d_program(const char *prog) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) die("exec.d %s: pipe: %s", prog, strerror(errno));
  pid_t pid = fork();
  if (pid < 0) die("exec.d %s: fork: %s", prog, strerror(errno));
  if (pid == 0) {
    if (dup2(fds[1], 3) < 0) _exit(127);
    execl(prog, prog, (char *)NULL);
    fprintf(stderr, "ERROR: launcher: exec.d %s: %s\n", prog, strerror(errno));
    _exit(127);
  }
  close(fds[1]);
  size_t cap = 4096, n = 0;
  char *buf = xmalloc(cap + 1);
  for (;;) {
    if (n == cap) {
      cap *= 2;
      buf = realloc(buf, cap + 1);
      if (!buf) die("out of memory");
    }
    ssize_t r = read(fds[0], buf + n, cap - n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    n += (size_t)r;
  }
  buf[n] = '\0';
  close(fds[0]);
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) die("exec.d %s: wait: %s", prog, strerror(errno));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
    die("exec.d %s failed (%s %d)", prog, WIFEXITED(status) ? "exit code" : "signal",
        WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
  apply_exec_d_output(prog, buf);
  free(buf);
}

/* Each regular file of `dir`, in name order. */
static void each_file(const char *dir, void (*fn)(const char *)) {
  struct dirent **list;
  int n = list_dir(dir, &list);
  for (int i = 0; i < n; i++) {
    char *f = join2(dir, list[i]->d_name);
    if (is_file(f)) fn(f);
    free(f);
  }
  free_list(list, n);
}

/* The files of <layer>/<name>/, then, for a process type, of <layer>/<name>/<type>/. */
static void each_layer_file(const char *layer, const char *name, const char *type, void (*fn)(const char *)) {
  char *dir = join2(layer, name);
  each_file(dir, fn);
  if (type) {
    char *proc = join2(dir, type);
    each_file(proc, fn);
    free(proc);
  }
  free(dir);
}

static void exec_d_for_layer(const char *layer, const char *type) {
  each_layer_file(layer, "exec.d", type, run_exec_d_program);
}

/* ---- profile.d (shell commands only) ---- */

static char *profile_script;
static size_t profile_len;

static void add_source(const char *file) {
  /* `. '<file>'` with single quotes escaped. */
  size_t extra = strlen(file) * 4 + 8;
  profile_script = realloc(profile_script, profile_len + extra + 1);
  if (!profile_script) die("out of memory");
  char *p = profile_script + profile_len;
  *p++ = '.';
  *p++ = ' ';
  *p++ = '\'';
  for (const char *c = file; *c; c++) {
    if (*c == '\'') {
      memcpy(p, "'\\''", 4);
      p += 4;
    } else {
      *p++ = *c;
    }
  }
  *p++ = '\'';
  *p++ = '\n';
  *p = '\0';
  profile_len = (size_t)(p - profile_script);
}

static void profile_for_layer(const char *layer, const char *type) {
  each_layer_file(layer, "profile.d", type, add_source);
}

/* ---- main ---- */

int main(int argc, char **argv) {
  const char *layers = getenv("CNB_LAYERS_DIR");
  const char *app = getenv("CNB_APP_DIR");
  layers = xstrdup(layers && *layers ? layers : "/layers");
  app = xstrdup(app && *app ? app : "/workspace");
  load_launch_file(layers);

  const char *base = strrchr(argv[0], '/');
  base = base ? base + 1 : argv[0];
  struct process *proc = NULL;
  char **user_args = argv + 1;
  int nuser = argc - 1;
  int direct = 1;
  if (strcmp(base, "launcher") != 0) {
    proc = find_process(base);
    if (!proc) die("no process type %s in this image", base);
  } else if (nuser > 0 && strcmp(user_args[0], "--") == 0) {
    user_args++;
    nuser--;
    if (nuser == 0) die("no command after --");
  } else if (nuser == 1 && find_process(user_args[0])) {
    proc = find_process(user_args[0]);
    user_args++;
    nuser--;
  } else if (nuser > 0) {
    direct = 0;
  } else {
    if (!default_type) die("this image has no default process; name one with --entrypoint /cnb/process/<type>");
    proc = find_process(default_type);
    if (!proc) die("the default process type %s is not defined", default_type);
  }
  const char *type = proc ? proc->type : NULL;

  if (chdir(app) != 0) die("changing to the app directory %s: %s", app, strerror(errno));
  clean_env();
  each_layer(layers, env_for_layer, type);
  each_layer(layers, exec_d_for_layer, type);

  if (proc && proc->workdir[0]) {
    if (chdir(proc->workdir) != 0) die("changing to %s: %s", proc->workdir, strerror(errno));
  }

  if (!direct) {
    each_layer(layers, profile_for_layer, NULL);
    char *dotprofile = join2(app, ".profile");
    if (is_file(dotprofile)) add_source(dotprofile);
    free(dotprofile);
    const char *script_tail = "eval \"$@\"\n";
    size_t tl = strlen(script_tail);
    profile_script = realloc(profile_script, profile_len + tl + 1);
    if (!profile_script) die("out of memory");
    memcpy(profile_script + profile_len, script_tail, tl + 1);
    const char *shell = is_file("/bin/bash") ? "/bin/bash" : "/bin/sh";
    char **av = xmalloc(((size_t)nuser + 4) * sizeof *av);
    av[0] = (char *)shell;
    av[1] = "-c";
    av[2] = profile_script;
    av[3] = (char *)shell;
    for (int i = 0; i < nuser; i++) av[4 + i] = user_args[i];
    av[4 + nuser] = NULL;
    execv(shell, av);
    die("running %s: %s", shell, strerror(errno));
  }

  char **av;
  if (proc) {
    const char **args = nuser > 0 ? (const char **)user_args : proc->args;
    int nargs = nuser > 0 ? nuser : proc->nargs;
    av = xmalloc(((size_t)proc->ncommand + (size_t)nargs + 1) * sizeof *av);
    int k = 0;
    for (int i = 0; i < proc->ncommand; i++) av[k++] = (char *)proc->command[i];
    for (int i = 0; i < nargs; i++) av[k++] = (char *)args[i];
    av[k] = NULL;
  } else {
    av = user_args;
  }
  execvp(av[0], av);
  die("running %s: %s", av[0], strerror(errno));
  return EXIT_LAUNCH;
}
