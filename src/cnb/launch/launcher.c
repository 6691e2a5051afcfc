/*
 * berth's CNB launcher: the launch sequence of the Platform API for app images berth exports when the
 * builder carries no lifecycle launcher. Compiled static (`gcc -static -Os`) by berth at export time and
 * placed at /cnb/lifecycle/launcher; /cnb/process/<type> are symlinks to it. It needs nothing else in the
 * image: no shell (unless a process asks for one), no libc, no berth.
 *
 * It reads the spec's inputs only, as the reference lifecycle's launcher (github.com/buildpacks/lifecycle,
 * launch/ and cmd/launcher/) does: <layers>/config/metadata.toml ([[processes]] type, command, args, direct,
 * buildpack-id, working-dir; [[buildpacks]] id, api) with a small TOML reader for what that file holds, and
 * the environment (CNB_LAYERS_DIR, CNB_APP_DIR, CNB_PLATFORM_API, PATH…). Then, as the lifecycle:
 *   the process is the type named by basename(argv[0]); as `launcher`, `-- cmd args` runs cmd directly and
 *   `cmd args` through bash (each arg evaluated on its own); user args are appended (Platform API < 0.10,
 *   Buildpack API < 0.9) or replace the process's args;
 *   chdir <app>; strip the CNB_* platform variables and /cnb/process, /cnb/lifecycle from PATH;
 *   per buildpack in order: every layer's bin → PATH and lib → LD_LIBRARY_PATH, then every layer's env/,
 *   env.launch/, env.launch/<type>/ by the suffix rules; exec.d/ and exec.d/<type>/ programs (TOML on fd 3);
 *   direct: chdir working-dir, exec; else bash sources profile.d/, profile.d/<type>/ and <app>/.profile,
 *   cd working-dir, and evaluates the command (/bin/sh with the same script when the image has no bash).
 * Errors print `ERROR: failed to launch: …` and exit 82, as the lifecycle's (Platform API ≥ 0.6).
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
  /* The lifecycle's logger writes every level to stdout. */
  fputs("ERROR: failed to launch: ", stdout);
  vfprintf(stdout, fmt, ap);
  fputc('\n', stdout);
  va_end(ap);
  exit(EXIT_LAUNCH);
}

/* strerror as Go spells errors ("no such file or directory"): the first letter in lower case. */
static const char *errstr(int e) {
  static char buf[256];
  snprintf(buf, sizeof buf, "%s", strerror(e));
  if (buf[0] >= 'A' && buf[0] <= 'Z') buf[0] = (char)(buf[0] - 'A' + 'a');
  return buf;
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
    die("reading %s: %s", dir, errstr(errno));
  }
  return n;
}

static void free_list(struct dirent **l, int n) {
  for (int i = 0; i < n; i++) free(l[i]);
  free(l);
}

/* ---- metadata.toml ---- */

/*
 * The TOML the lifecycle (BurntSushi/toml) and berth (smol-toml) write for metadata.toml: comments, [table] and
 * [[array-of-tables]] headers, `key = value` with bare or quoted keys, values that are strings (basic, literal,
 * multi-line), booleans, numbers, dates, arrays (nested, over lines) and inline tables. Only string, string-array
 * and boolean values of [[processes]] and [[buildpacks]] are kept; everything else is parsed and skipped.
 */
struct process {
  const char *type;
  const char *workdir;
  const char *buildpack_id;
  int direct;
  int ncommand;
  const char **command;
  int nargs;
  const char **args;
};

struct buildpack {
  const char *id;
  const char *api;
};

static struct process *processes;
static int nprocesses;
static struct buildpack *buildpacks;
static int nbuildpacks;

static const char *md_path;
static const char *md_p;
static int md_line = 1;

static void md_fail(const char *what) {
  printf("ERROR: failed to read metadata: %s: line %d: %s\n", md_path, md_line, what);
  exit(1);
}

static void skip_ws(void) {
  while (*md_p == ' ' || *md_p == '\t') md_p++;
}

/* Whitespace, newlines and comments (inside arrays). */
static void skip_ws_nl(void) {
  for (;;) {
    skip_ws();
    if (*md_p == '#') {
      while (*md_p && *md_p != '\n') md_p++;
    } else if (*md_p == '\r' || *md_p == '\n') {
      if (*md_p == '\n') md_line++;
      md_p++;
    } else {
      return;
    }
  }
}

static void put_utf8(char *out, size_t *n, unsigned long cp) {
  if (cp < 0x80) out[(*n)++] = (char)cp;
  else if (cp < 0x800) {
    out[(*n)++] = (char)(0xc0 | (cp >> 6));
    out[(*n)++] = (char)(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out[(*n)++] = (char)(0xe0 | (cp >> 12));
    out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[(*n)++] = (char)(0x80 | (cp & 0x3f));
  } else {
    out[(*n)++] = (char)(0xf0 | (cp >> 18));
    out[(*n)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
    out[(*n)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
    out[(*n)++] = (char)(0x80 | (cp & 0x3f));
  }
}

/* A string at md_p (any of the four kinds); NULL when md_p is not at a string. */
static char *parse_string(void) {
  char q = *md_p;
  if (q != '"' && q != '\'') return NULL;
  int multi = md_p[1] == q && md_p[2] == q;
  md_p += multi ? 3 : 1;
  if (multi && *md_p == '\r') md_p++;
  if (multi && *md_p == '\n') {
    md_line++;
    md_p++;
  }
  char *out = xmalloc(strlen(md_p) * 4 + 1);
  size_t n = 0;
  for (;;) {
    char c = *md_p;
    if (c == '\0') md_fail("unterminated string");
    if (c == q) {
      if (!multi) {
        md_p++;
        break;
      }
      if (md_p[1] == q && md_p[2] == q) {
        md_p += 3;
        while (*md_p == q) out[n++] = *md_p++; /* up to two quotes may end the content */
        break;
      }
      out[n++] = *md_p++;
      continue;
    }
    if (c == '\n') {
      if (!multi) md_fail("newline in a string");
      md_line++;
    }
    if (c == '\\' && q == '"') {
      md_p++;
      char e = *md_p++;
      switch (e) {
      case 'n': out[n++] = '\n'; break;
      case 't': out[n++] = '\t'; break;
      case 'r': out[n++] = '\r'; break;
      case 'b': out[n++] = '\b'; break;
      case 'f': out[n++] = '\f'; break;
      case 'e': out[n++] = '\x1b'; break;
      case '"': out[n++] = '"'; break;
      case '\\': out[n++] = '\\'; break;
      case 'u':
      case 'U': {
        int len = e == 'u' ? 4 : 8;
        unsigned long cp = 0;
        for (int i = 0; i < len; i++) {
          char h = *md_p++;
          cp <<= 4;
          if (h >= '0' && h <= '9') cp |= (unsigned long)(h - '0');
          else if (h >= 'a' && h <= 'f') cp |= (unsigned long)(h - 'a' + 10);
          else if (h >= 'A' && h <= 'F') cp |= (unsigned long)(h - 'A' + 10);
          else md_fail("bad \\u escape");
        }
        put_utf8(out, &n, cp);
        break;
      }
      case '\r':
      case '\n':
      case ' ':
      case '\t':
        /* line-ending backslash: drop the whitespace up to the next non-blank */
        if (!multi) md_fail("bad escape");
        md_p--;
        while (*md_p == ' ' || *md_p == '\t' || *md_p == '\r' || *md_p == '\n') {
          if (*md_p == '\n') md_line++;
          md_p++;
        }
        break;
      default: md_fail("bad escape");
      }
      continue;
    }
    out[n++] = *md_p++;
  }
  out[n] = '\0';
  return out;
}

enum vkind { V_OTHER, V_STR, V_BOOL, V_STRS };
struct value {
  enum vkind kind;
  char *str;
  int b;
  const char **strs;
  int nstrs;
};

static void parse_value(struct value *v);

static void parse_array(struct value *v) {
  md_p++; /* [ */
  int cap = 4, n = 0, all_strings = 1;
  const char **items = xmalloc((size_t)cap * sizeof *items);
  for (;;) {
    skip_ws_nl();
    if (*md_p == ']') {
      md_p++;
      break;
    }
    struct value item = {0};
    parse_value(&item);
    if (item.kind == V_STR) {
      if (n == cap) {
        cap *= 2;
        items = realloc(items, (size_t)cap * sizeof *items);
        if (!items) die("out of memory");
      }
      items[n++] = item.str;
    } else {
      all_strings = 0;
    }
    skip_ws_nl();
    if (*md_p == ',') md_p++;
    else if (*md_p != ']') md_fail("expected , or ] in an array");
  }
  v->kind = all_strings ? V_STRS : V_OTHER;
  v->strs = items;
  v->nstrs = n;
}

static void parse_key_into(char *buf, size_t cap);

static void parse_inline_table(void) {
  md_p++; /* { */
  for (;;) {
    skip_ws();
    if (*md_p == '}') {
      md_p++;
      return;
    }
    char key[256];
    parse_key_into(key, sizeof key);
    skip_ws();
    if (*md_p != '=') md_fail("expected = in an inline table");
    md_p++;
    skip_ws();
    struct value v = {0};
    parse_value(&v);
    skip_ws();
    if (*md_p == ',') md_p++;
    else if (*md_p != '}') md_fail("expected , or } in an inline table");
  }
}

static void parse_value(struct value *v) {
  v->kind = V_OTHER;
  if (*md_p == '"' || *md_p == '\'') {
    v->kind = V_STR;
    v->str = parse_string();
  } else if (*md_p == '[') {
    parse_array(v);
  } else if (*md_p == '{') {
    parse_inline_table();
  } else if (strncmp(md_p, "true", 4) == 0) {
    v->kind = V_BOOL;
    v->b = 1;
    md_p += 4;
  } else if (strncmp(md_p, "false", 5) == 0) {
    v->kind = V_BOOL;
    v->b = 0;
    md_p += 5;
  } else {
    /* numbers, dates, times: up to the next separator */
    const char *s = md_p;
    while (*md_p && *md_p != ',' && *md_p != ']' && *md_p != '}' && *md_p != '\n' && *md_p != '#' &&
           !(*md_p == ' ' && !(md_p[1] >= '0' && md_p[1] <= '9')))
      md_p++;
    if (md_p == s) md_fail("expected a value");
  }
}

/* A key (dotted keys are kept whole: metadata.toml's keys are not dotted). */
static void parse_key_into(char *buf, size_t cap) {
  size_t n = 0;
  for (;;) {
    skip_ws();
    if (*md_p == '"' || *md_p == '\'') {
      char *s = parse_string();
      for (char *c = s; *c && n + 1 < cap; c++) buf[n++] = *c;
      free(s);
    } else {
      const char *s = md_p;
      while ((*md_p >= 'a' && *md_p <= 'z') || (*md_p >= 'A' && *md_p <= 'Z') || (*md_p >= '0' && *md_p <= '9') ||
             *md_p == '_' || *md_p == '-')
        md_p++;
      if (md_p == s) md_fail("expected a key");
      for (const char *c = s; c < md_p && n + 1 < cap; c++) buf[n++] = *c;
    }
    skip_ws();
    if (*md_p != '.') break;
    if (n + 1 < cap) buf[n++] = '.';
    md_p++;
  }
  buf[n] = '\0';
}

static void load_metadata(const char *layers) {
  char *path = join2(layers, "config/metadata.toml");
  md_path = path;
  char *buf = read_file(path, NULL);
  if (!buf) {
    printf("ERROR: failed to read metadata: open %s: %s\n", path, errstr(errno));
    exit(1);
  }
  size_t cap = 8;
  for (const char *c = buf; *c; c++)
    if (*c == '[') cap++;
  processes = xmalloc(cap * sizeof *processes);
  buildpacks = xmalloc(cap * sizeof *buildpacks);
  enum { S_OTHER, S_PROC, S_BP } section = S_OTHER;
  struct process *proc = NULL;
  struct buildpack *bp = NULL;
  md_p = buf;
  for (;;) {
    skip_ws_nl();
    if (*md_p == '\0') break;
    if (*md_p == '[') {
      int array = md_p[1] == '[';
      md_p += array ? 2 : 1;
      char name[256];
      parse_key_into(name, sizeof name);
      if (*md_p != ']' || (array && md_p[1] != ']')) md_fail("bad table header");
      md_p += array ? 2 : 1;
      section = S_OTHER;
      if (array && strcmp(name, "processes") == 0) {
        section = S_PROC;
        proc = &processes[nprocesses++];
        memset(proc, 0, sizeof *proc);
        proc->workdir = "";
        proc->buildpack_id = "";
      } else if (array && strcmp(name, "buildpacks") == 0) {
        section = S_BP;
        bp = &buildpacks[nbuildpacks++];
        bp->id = "";
        bp->api = "";
      }
      continue;
    }
    char key[256];
    parse_key_into(key, sizeof key);
    if (*md_p != '=') md_fail("expected =");
    md_p++;
    skip_ws();
    struct value v = {0};
    parse_value(&v);
    if (section == S_PROC) {
      if (strcmp(key, "type") == 0 && v.kind == V_STR) proc->type = v.str;
      else if (strcmp(key, "command") == 0 && v.kind == V_STR) {
        proc->command = xmalloc(sizeof *proc->command);
        proc->command[0] = v.str;
        proc->ncommand = 1;
      } else if (strcmp(key, "command") == 0 && v.kind == V_STRS) {
        proc->command = v.strs;
        proc->ncommand = v.nstrs;
      } else if (strcmp(key, "args") == 0 && v.kind == V_STRS) {
        proc->args = v.strs;
        proc->nargs = v.nstrs;
      } else if (strcmp(key, "direct") == 0 && v.kind == V_BOOL) proc->direct = v.b;
      else if (strcmp(key, "buildpack-id") == 0 && v.kind == V_STR) proc->buildpack_id = v.str;
      else if (strcmp(key, "working-dir") == 0 && v.kind == V_STR) proc->workdir = v.str;
    } else if (section == S_BP) {
      if (strcmp(key, "id") == 0 && v.kind == V_STR) bp->id = v.str;
      else if (strcmp(key, "api") == 0 && v.kind == V_STR) bp->api = v.str;
    }
    skip_ws();
    if (*md_p == '#')
      while (*md_p && *md_p != '\n') md_p++;
    if (*md_p != '\0' && *md_p != '\n' && *md_p != '\r') md_fail("expected the end of the line");
  }
  for (int i = 0; i < nprocesses; i++) {
    if (!processes[i].type) md_fail("a process has no type");
    if (processes[i].ncommand < 1) {
      processes[i].command = xmalloc(sizeof *processes[i].command);
      processes[i].command[0] = "";
      processes[i].ncommand = 1;
    }
  }
}

static struct process *find_process(const char *type) {
  for (int i = 0; i < nprocesses; i++)
    if (strcmp(processes[i].type, type) == 0) return &processes[i];
  return NULL;
}

static struct buildpack *find_buildpack(const char *id) {
  for (int i = 0; i < nbuildpacks; i++)
    if (strcmp(buildpacks[i].id, id) == 0) return &buildpacks[i];
  return NULL;
}

/* "0.9" < "0.10": compares dotted numbers; a missing version counts as 0.0. */
static int api_less(const char *v, const char *than) {
  long a1 = 0, a2 = 0, b1 = 0, b2 = 0;
  if (v) sscanf(v, "%ld.%ld", &a1, &a2);
  sscanf(than, "%ld.%ld", &b1, &b2);
  return a1 != b1 ? a1 < b1 : a2 < b2;
}

/* ---- the environment ---- */

static void set(const char *name, const char *value) {
  if (setenv(name, value, 1) != 0) die("setting %s: %s", name, errstr(errno));
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
    if (!value) die("reading %s: %s", path, errstr(errno));
    if (strcmp(suffix, "") == 0 || strcmp(suffix, "override") == 0) {
      set(name, value);
    } else if (strcmp(suffix, "default") == 0) {
      const char *old = getenv(name);
      if (old == NULL || *old == '\0') set(name, value);
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

/* Is this directory entry a directory (not following a symlink, as Go's DirEntry.IsDir)? */
static int entry_is_dir(const char *parent, const struct dirent *d) {
  if (d->d_type != DT_UNKNOWN) return d->d_type == DT_DIR;
  char *p = join2(parent, d->d_name);
  struct stat st;
  int r = lstat(p, &st) == 0 && S_ISDIR(st.st_mode);
  free(p);
  return r;
}

/* <layers>/<id with / as _>, or NULL when the buildpack left no directory. */
static char *buildpack_dir(const char *layers, const struct buildpack *bp) {
  char *id = xstrdup(bp->id);
  for (char *c = id; *c; c++)
    if (*c == '/') *c = '_';
  char *dir = join2(layers, id);
  free(id);
  if (!is_dir(dir)) {
    free(dir);
    return NULL;
  }
  return dir;
}

/* Calls fn(layer dir) for every layer (a directory) of one buildpack's directory, in name order. */
static void each_layer_of(const char *bpdir, void (*fn)(const char *layer, const char *type), const char *type) {
  struct dirent **list;
  int n = list_dir(bpdir, &list);
  for (int i = 0; i < n; i++) {
    if (!entry_is_dir(bpdir, list[i])) continue;
    char *layer = join2(bpdir, list[i]->d_name);
    fn(layer, type);
    free(layer);
  }
  free_list(list, n);
}

/* Calls fn(layer dir) for every layer of every buildpack, in order. */
static void each_layer(const char *layers, void (*fn)(const char *layer, const char *type), const char *type) {
  for (int b = 0; b < nbuildpacks; b++) {
    char *bpdir = buildpack_dir(layers, &buildpacks[b]);
    if (!bpdir) continue;
    each_layer_of(bpdir, fn, type);
    free(bpdir);
  }
}

static void root_for_layer(const char *layer, const char *type) {
  (void)type;
  char *bin = join2(layer, "bin");
  if (is_dir(bin)) prepend("PATH", bin, ":");
  free(bin);
  char *lib = join2(layer, "lib");
  if (is_dir(lib)) prepend("LD_LIBRARY_PATH", lib, ":");
  free(lib);
}

static void env_files_for_layer(const char *layer, const char *type) {
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

/* As the lifecycle: per buildpack, first every layer's bin/lib, then every layer's env files. */
static void do_env(const char *layers, const char *type) {
  for (int b = 0; b < nbuildpacks; b++) {
    char *bpdir = buildpack_dir(layers, &buildpacks[b]);
    if (!bpdir) continue;
    each_layer_of(bpdir, root_for_layer, type);
    each_layer_of(bpdir, env_files_for_layer, type);
    free(bpdir);
  }
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
    if (!eq) die("exec.d: failed to decode output from exec.d file at path '%s': %s", prog, line);
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
      die("exec.d: failed to decode output from exec.d file at path '%s': %s is not a string", prog, key);
    }
    set(key, value);
    free(value);
  }
}

static void run_exec_d_program(const char *prog) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) die("exec.d %s: pipe: %s", prog, errstr(errno));
  pid_t pid = fork();
  if (pid < 0) die("exec.d %s: fork: %s", prog, errstr(errno));
  if (pid == 0) {
    if (dup2(fds[1], 3) < 0) _exit(127);
    execl(prog, prog, (char *)NULL);
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
    if (errno != EINTR) die("exec.d %s: wait: %s", prog, errstr(errno));
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    if (WIFEXITED(status))
      die("exec.d: failed to execute exec.d file at path '%s': exit status %d", prog, WEXITSTATUS(status));
    die("exec.d: failed to execute exec.d file at path '%s': signal: %s", prog, strsignal(WTERMSIG(status)));
  }
  apply_exec_d_output(prog, buf);
  free(buf);
}

/* Each entry of `dir` that is not a directory (a symlink counts as a file), in name order. */
static void each_file(const char *dir, void (*fn)(const char *)) {
  struct dirent **list;
  int n = list_dir(dir, &list);
  for (int i = 0; i < n; i++) {
    if (entry_is_dir(dir, list[i])) continue;
    char *f = join2(dir, list[i]->d_name);
    fn(f);
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

/* ---- profile.d (shell processes only) ---- */

static char *script;
static size_t script_len;

static void script_add(const char *text) {
  size_t l = strlen(text);
  script = realloc(script, script_len + l + 1);
  if (!script) die("out of memory");
  memcpy(script + script_len, text, l + 1);
  script_len += l;
}

static const char *source_cmd = "source";

/* `source "<file>"`, as the lifecycle writes it (the path is not escaped there either). */
static void add_source(const char *file) {
  script_add(source_cmd);
  script_add(" \"");
  script_add(file);
  script_add("\"\n");
}

static void profile_for_layer(const char *layer, const char *type) {
  each_layer_file(layer, "profile.d", type, add_source);
}

/* ---- main ---- */

static const char **user_args;
static int nuser;

static void set_args(struct process *p, const char **a, int n) {
  p->args = a;
  p->nargs = n;
}

static const char **concat_args(const char **a, int na, const char **b, int nb) {
  const char **out = xmalloc(((size_t)na + (size_t)nb + 1) * sizeof *out);
  for (int i = 0; i < na; i++) out[i] = a[i];
  for (int i = 0; i < nb; i++) out[na + i] = b[i];
  out[na + nb] = NULL;
  return out;
}

/* The lifecycle's ProcessFor: the process named by argv[0], or one made of the user's command. */
static struct process select_process(const char *type, const char *platform_api) {
  struct process p;
  memset(&p, 0, sizeof p);
  if (!type) {
    if (nuser == 0) die("determine start command: when there is no default process a command is required");
    p.workdir = "";
    p.buildpack_id = "";
    if (nuser > 1 && strcmp(user_args[0], "--") == 0) {
      p.command = &user_args[1];
      p.ncommand = 1;
      set_args(&p, &user_args[2], nuser - 2);
      p.direct = 1;
    } else {
      p.command = &user_args[0];
      p.ncommand = 1;
      set_args(&p, &user_args[1], nuser - 1);
      p.direct = 0;
    }
    return p;
  }
  p = *find_process(type);
  if (api_less(platform_api, "0.10")) {
    set_args(&p, concat_args(p.args, p.nargs, user_args, nuser), p.nargs + nuser);
  } else if (p.ncommand > 1) {
    /* the command's own args always, then the user's args or else the process's */
    const char **fixed = p.command + 1;
    int nfixed = p.ncommand - 1;
    if (nuser > 0) set_args(&p, concat_args(fixed, nfixed, user_args, nuser), nfixed + nuser);
    else set_args(&p, concat_args(fixed, nfixed, p.args, p.nargs), nfixed + p.nargs);
    p.ncommand = 1;
  } else if (nuser > 0) {
    struct buildpack *bp = find_buildpack(p.buildpack_id);
    if (!bp)
      die("determine start command: failed to find buildpack for process %s with buildpack ID %s", p.type,
          p.buildpack_id);
    if (api_less(bp->api, "0.9")) set_args(&p, concat_args(p.args, p.nargs, user_args, nuser), p.nargs + nuser);
    else set_args(&p, (const char **)user_args, nuser);
  }
  return p;
}

/* Go's exec.LookPath: a name with a slash as it is, else the first executable file on PATH. */
static char *look_path(const char *file) {
  if (strchr(file, '/')) {
    struct stat st;
    if (stat(file, &st) != 0) die("path lookup: stat %s: %s", file, errstr(errno));
    if (S_ISDIR(st.st_mode) || !(st.st_mode & 0111)) die("path lookup: exec: \"%s\": permission denied", file);
    return xstrdup(file);
  }
  const char *path = getenv("PATH");
  char *copy = xstrdup(path ? path : "");
  char *save = NULL;
  for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
    char *full = join2(*d ? d : ".", file);
    struct stat st;
    if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0111)) {
      free(copy);
      return full;
    }
    free(full);
  }
  free(copy);
  die("path lookup: exec: \"%s\": executable file not found in $PATH", file);
  return NULL;
}

int main(int argc, char **argv) {
  const char *layers = getenv("CNB_LAYERS_DIR");
  const char *app = getenv("CNB_APP_DIR");
  const char *platform_api = getenv("CNB_PLATFORM_API");
  layers = xstrdup(layers && *layers ? layers : "/layers");
  app = xstrdup(app && *app ? app : "/workspace");
  platform_api = xstrdup(platform_api ? platform_api : "");
  load_metadata(layers);

  const char *ptype = getenv("CNB_PROCESS_TYPE");
  if (ptype && *ptype) {
    printf("Warning: CNB_PROCESS_TYPE is not supported in Platform API %s\n", platform_api);
    printf("Warning: Run with ENTRYPOINT '%s' to invoke the '%s' process type\n", ptype, ptype);
    fflush(stdout);
  }
  const char *base = strrchr(argv[0], '/');
  base = base ? base + 1 : argv[0];
  const char *type = find_process(base) ? base : NULL;
  user_args = (const char **)argv + 1;
  nuser = argc - 1;
  struct process proc = select_process(type, platform_api);

  if (chdir(app) != 0) die("change to app directory: chdir %s: %s", app, errstr(errno));
  clean_env();
  const char *ptype_env = proc.type && *proc.type ? proc.type : NULL;
  do_env(layers, ptype_env);
  each_layer(layers, exec_d_for_layer, ptype_env);
  const char *workdir = proc.workdir && *proc.workdir ? proc.workdir : app;

  if (proc.direct) {
    char *binary = look_path(proc.command[0]);
    if (chdir(workdir) != 0) die("change directory: chdir %s: %s", workdir, errstr(errno));
    const char **av = concat_args(proc.command, proc.ncommand, proc.args, proc.nargs);
    execv(binary, (char **)av);
    die("direct exec: %s", errstr(errno));
  }

  /* Through bash, as the lifecycle's BashShell: profiles, cd, then the command. */
  int script_mode = proc.nargs == 0;
  if (!script_mode && proc.buildpack_id && *proc.buildpack_id && !find_buildpack(proc.buildpack_id))
    die("process type '%s' provided by unknown buildpack '%s'", proc.type, proc.buildpack_id);
  const char *shell = "/bin/bash";
  const char *shname = "bash";
  if (!is_file(shell)) {
    /* No bash in the image: the same script through /bin/sh (POSIX spelling). */
    shell = "/bin/sh";
    shname = "sh";
    source_cmd = ".";
  }
  script_add("");
  each_layer(layers, profile_for_layer, ptype_env);
  char *dotprofile = join2(app, ".profile");
  struct stat st;
  if (stat(dotprofile, &st) == 0 && !S_ISDIR(st.st_mode)) add_source(".profile");
  free(dotprofile);
  script_add("cd \"");
  script_add(workdir);
  script_add("\"\n");
  if (script_mode) {
    script_add("exec ");
    script_add(shname);
    script_add(" -c \"$@\"");
  } else {
    script_add("exec ");
    script_add(shname);
    script_add(" -c '\"$(eval echo \\\"$0\\\")\"");
    for (int i = 1; i < proc.nargs + 1; i++) {
      char buf[64];
      snprintf(buf, sizeof buf, " \"$(eval echo \\\"${%d}\\\")\"", i);
      script_add(buf);
    }
    script_add(source_cmd[0] == 's' ? "' \"${@:1}\"" : "' \"$@\"");
  }
  /* the command: its entries joined by spaces */
  size_t clen = 1;
  for (int i = 0; i < proc.ncommand; i++) clen += strlen(proc.command[i]) + 1;
  char *command = xmalloc(clen);
  command[0] = '\0';
  for (int i = 0; i < proc.ncommand; i++) {
    if (i) strcat(command, " ");
    strcat(command, proc.command[i]);
  }
  const char **av = xmalloc(((size_t)proc.nargs + 6) * sizeof *av);
  int k = 0;
  av[k++] = shname;
  av[k++] = "-c";
  av[k++] = script;
  av[k++] = argv[0];
  av[k++] = command;
  for (int i = 0; i < proc.nargs; i++) av[k++] = proc.args[i];
  av[k] = NULL;
  execv(shell, (char **)av);
  die("bash exec: %s", errstr(errno));
  return 82;
}
