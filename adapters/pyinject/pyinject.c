/* kdap-pyinject: start debugpy inside a running Python process, no gdb.
 *
 * debugpy's own attach by PID drives gdb to call into the interpreter; on
 * this machine's kernel gdb's inferior calls fail writing the XSTATE
 * register set ("Couldn't write extended state status: Bad address") and
 * leave the program killed.  This helper makes the same three calls itself
 * with nothing but the general registers and the legacy FP area:
 *
 *   PyGILState_Ensure(); PyRun_SimpleString(snippet); PyGILState_Release()
 *
 * on the target's main thread, stopped while it is blocked in a system
 * call.  A thread in a system call is inside a libc function, so by the
 * SysV ABI every vector register is dead there (caller-saved); what must
 * survive is the general registers and the FP control words (MXCSR and
 * the x87 control word, callee-saved), all in GETREGS + GETFPREGS.  Each
 * call "returns" to address 0: the fault there (SIGSEGV at rip 0) is the
 * end of the call, caught and never delivered, so no code is written.
 * The interrupted system call restarts when the registers are put back.
 *
 * The snippet puts DIR (where debugpy lives, as the target sees it: in a
 * pod /proc/<pid>/root/... of a process in the debug container) first on
 * sys.path, imports debugpy, calls debugpy.listen(("127.0.0.1", PORT))
 * and takes DIR off sys.path again; debugpy ends itself after its first
 * session, or after WAIT_S seconds without one.  debugpy starts its adapter as
 * `sys.executable DIR/debugpy/adapter`, so the adapter finds it by DIR
 * too.
 *
 *   kdap-pyinject PID PORT DIR WAIT_S
 *
 * Exit 0 once debugpy listens; otherwise a message naming the problem on
 * stderr and exit 1, the target left running as it was.
 * Static, libc only: it goes into the Python debugger image. */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* What Debian 12's python3-debugpy (1.6.6) runs on. */
#define PYI_MIN_MINOR 7
#define PYI_MAX_MINOR 11
#define PYI_TRIES 100      /* interrupts until the thread sits in a syscall */
#define PYI_RETRY_NS 20000000L
#define PYI_CALL_S 30      /* one call's deadline */

static pid_t pyi_pid;

static void pyi_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "kdap-pyinject: ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n");
    va_end(ap);
}

/* The interpreter's exports, found in the target's python binary or
 * libpython through /proc/PID/maps and the file's .dynsym. */
struct pyi_syms {
    uint64_t ensure, run, release, version;
    char file[512];
    int minor_from_name; /* libpython3.N / python3.N, for Pythons without Py_Version */
};

static int pyi_read_file(const char *path, unsigned char **out, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size < (off_t)sizeof(Elf64_Ehdr)) {
        close(fd);
        return -EINVAL;
    }
    unsigned char *buf = malloc((size_t)st.st_size);
    size_t got = 0;
    while (buf != NULL && got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (buf == NULL || got != (size_t)st.st_size) {
        free(buf);
        return -EIO;
    }
    *out = buf;
    *len = got;
    return 0;
}

/* The exports of one mapped ELF file, relocated by the mapping of its
 * offset 0 at START.  Returns 1 if it holds PyRun_SimpleString. */
static int pyi_elf_syms(const char *path, uint64_t start, struct pyi_syms *s)
{
    unsigned char *b = NULL;
    size_t len = 0;
    if (pyi_read_file(path, &b, &len) < 0)
        return 0;
    const Elf64_Ehdr *eh = (const Elf64_Ehdr *)b;
    int found = 0;
    if (memcmp(eh->e_ident, ELFMAG, SELFMAG) != 0 || eh->e_ident[EI_CLASS] != ELFCLASS64 ||
        eh->e_machine != EM_X86_64 || eh->e_shoff == 0 ||
        eh->e_shoff + (uint64_t)eh->e_shnum * sizeof(Elf64_Shdr) > len ||
        eh->e_phoff + (uint64_t)eh->e_phnum * sizeof(Elf64_Phdr) > len)
        goto out;
    uint64_t bias = 0;
    if (eh->e_type == ET_DYN) {
        const Elf64_Phdr *ph = (const Elf64_Phdr *)(b + eh->e_phoff);
        for (int i = 0; i < eh->e_phnum; i++)
            if (ph[i].p_type == PT_LOAD) {
                bias = start - (ph[i].p_vaddr & ~(uint64_t)0xfff);
                break;
            }
    }
    const Elf64_Shdr *sh = (const Elf64_Shdr *)(b + eh->e_shoff);
    for (int i = 0; i < eh->e_shnum; i++) {
        if (sh[i].sh_type != SHT_DYNSYM || sh[i].sh_link >= eh->e_shnum)
            continue;
        const Elf64_Shdr *str = &sh[sh[i].sh_link];
        if (sh[i].sh_offset + sh[i].sh_size > len || str->sh_offset + str->sh_size > len)
            goto out;
        const Elf64_Sym *sym = (const Elf64_Sym *)(b + sh[i].sh_offset);
        size_t n = sh[i].sh_size / sizeof(Elf64_Sym);
        const char *names = (const char *)(b + str->sh_offset);
        for (size_t k = 0; k < n; k++) {
            if (sym[k].st_name >= str->sh_size || sym[k].st_shndx == SHN_UNDEF)
                continue;
            const char *nm = names + sym[k].st_name;
            if (memchr(nm, 0, str->sh_size - sym[k].st_name) == NULL)
                continue;
            uint64_t at = bias + sym[k].st_value;
            if (strcmp(nm, "PyGILState_Ensure") == 0)
                s->ensure = at;
            else if (strcmp(nm, "PyGILState_Release") == 0)
                s->release = at;
            else if (strcmp(nm, "PyRun_SimpleString") == 0)
                s->run = at;
            else if (strcmp(nm, "Py_Version") == 0)
                s->version = at;
        }
    }
    found = s->run != 0 && s->ensure != 0 && s->release != 0;
out:
    free(b);
    return found;
}

/* Which mapped file is the interpreter: the one exporting the C API. */
static int pyi_find(struct pyi_syms *s)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/maps", (int)pyi_pid);
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        pyi_fail("cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    char line[1024];
    while (fgets(line, sizeof(line), f) != NULL) {
        unsigned long long lo, hi, off;
        char perms[8];
        int name_at = 0;
        if (sscanf(line, "%llx-%llx %7s %llx %*s %*s %n", &lo, &hi, perms, &off, &name_at) < 4 ||
            off != 0 || name_at == 0 || line[name_at] != '/')
            continue;
        char *name = line + name_at;
        name[strcspn(name, "\n")] = '\0';
        const char *base = strrchr(name, '/') + 1;
        if (strncmp(base, "python3", 7) != 0 && strncmp(base, "libpython3", 10) != 0)
            continue;
        /* The file as the target sees it, from whatever mount namespace. */
        char in_ns[600];
        snprintf(in_ns, sizeof(in_ns), "/proc/%d/root%s", (int)pyi_pid, name);
        memset(s, 0, sizeof(*s));
        if (pyi_elf_syms(in_ns, lo, s)) {
            snprintf(s->file, sizeof(s->file), "%s", name);
            const char *dot = strstr(base, "python3.");
            s->minor_from_name = dot != NULL ? atoi(dot + 8) : -1;
            fclose(f);
            return 0;
        }
    }
    fclose(f);
    pyi_fail("process %d maps no Python interpreter exporting PyRun_SimpleString "
             "(is it a CPython 3 program?)", (int)pyi_pid);
    return -1;
}

static int pyi_mem(int write, uint64_t at, void *buf, size_t len)
{
    char path[64];
    snprintf(path, sizeof(path), "/proc/%d/mem", (int)pyi_pid);
    int fd = open(path, (write ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = write ? pwrite(fd, buf, len, (off_t)at) : pread(fd, buf, len, (off_t)at);
    int err = errno;
    close(fd);
    return n == (ssize_t)len ? 0 : (n < 0 ? -err : -EIO);
}

/* Stopped in a ptrace stop; 0, or -1 if the process went away. */
static int pyi_wait_stop(int *status)
{
    for (;;) {
        if (waitpid(pyi_pid, status, __WALL) < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (WIFEXITED(*status) || WIFSIGNALED(*status))
            return -1;
        return 0;
    }
}

/* Run FN(ARG) on the stopped thread from REGS (the state to start from);
 * its return value in *RET.  Signals that come meanwhile are delivered as
 * they would have been. */
static int pyi_call(const struct user_regs_struct *regs, uint64_t fn, uint64_t arg,
                    uint64_t sp, uint64_t *ret)
{
    struct user_regs_struct r = *regs;
    uint64_t zero = 0;
    sp = (sp & ~(uint64_t)15) - 8; /* at entry rsp+8 is 16-aligned */
    if (pyi_mem(1, sp, &zero, sizeof(zero)) < 0)
        return -1;
    r.rsp = sp;
    r.rip = fn;
    r.rdi = arg;
    r.rax = 0;
    r.orig_rax = (uint64_t)-1; /* no syscall restart on resume */
    if (ptrace(PTRACE_SETREGS, pyi_pid, 0, &r) < 0)
        return -1;
    int sig = 0;
    alarm(PYI_CALL_S);
    for (;;) {
        int status;
        if (ptrace(PTRACE_CONT, pyi_pid, 0, (void *)(long)sig) < 0 || pyi_wait_stop(&status) < 0)
            return -1;
        sig = 0;
        if (status >> 16 != 0) /* PTRACE_EVENT_STOP: group stop or interrupt */
            continue;
        int s = WSTOPSIG(status);
        if (s == SIGSEGV && ptrace(PTRACE_GETREGS, pyi_pid, 0, &r) == 0 && r.rip == 0) {
            alarm(0);
            *ret = r.rax;
            return 0;
        }
        sig = s;
        if (s == SIGSEGV || s == SIGBUS || s == SIGILL || s == SIGFPE) {
            alarm(0);
            pyi_fail("the target faulted (signal %d) inside the interpreter at %#llx",
                     s, (unsigned long long)r.rip);
            return -2;
        }
    }
}

static void pyi_timeout(int sig)
{
    (void)sig;
    /* Stop the tracee where it is; the main loop then gives up. */
    kill(pyi_pid, SIGSTOP);
    const char msg[] = "kdap-pyinject: a call into the interpreter took over 30 s\n";
    ssize_t n = write(2, msg, sizeof(msg) - 1);
    (void)n;
    _exit(1);
}

int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: kdap-pyinject PID PORT DIR WAIT_S\n");
        return 2;
    }
    pyi_pid = (pid_t)atoi(argv[1]);
    int port = atoi(argv[2]);
    const char *dir = argv[3];
    int wait_s = atoi(argv[4]);
    if (pyi_pid <= 0 || port <= 0 || port > 65535 || wait_s <= 0 || strchr(dir, '\'') != NULL ||
        strchr(dir, '\\') != NULL || strchr(dir, '\n') != NULL) {
        pyi_fail("bad arguments: PID, PORT and WAIT_S are numbers, DIR a path without quotes, "
                 "backslashes or newlines");
        return 2;
    }
    struct pyi_syms s;
    if (pyi_find(&s) < 0)
        return 1;

    int minor = s.minor_from_name;
    char version[32];
    if (s.version != 0) {
        uint32_t hex = 0;
        if (pyi_mem(0, s.version, &hex, sizeof(hex)) == 0 && hex >> 24 == 3) {
            minor = (int)(hex >> 16 & 0xff);
            snprintf(version, sizeof(version), "3.%d.%u", minor, hex >> 8 & 0xff);
        } else {
            snprintf(version, sizeof(version), "3.%d", minor);
        }
    } else {
        snprintf(version, sizeof(version), "3.%d", minor);
    }
    if (minor < PYI_MIN_MINOR || minor > PYI_MAX_MINOR) {
        pyi_fail("process %d runs Python %s (%s); the debugpy here supports Python 3.%d to "
                 "3.%d", (int)pyi_pid, minor < 0 ? "of an unknown version" : version, s.file,
                 PYI_MIN_MINOR, PYI_MAX_MINOR);
        return 1;
    }

    /* All in one function, so that nothing is left in the program's
     * __main__.  The watcher is hidden from the debugger (pydevd skips
     * is_pydev_daemon_thread threads) and ends debugpy once its one
     * session has gone, or if none came within WAIT_S: pydevd's stoptrace
     * closes its connection to debugpy's adapter, which then exits, so
     * nothing listens on PORT afterwards. */
    char snippet[4096];
    int n = snprintf(snippet, sizeof(snippet),
                     "def _kdap_inject():\n"
                     "    import sys, threading, time\n"
                     "    sys.path.insert(0, '%s')\n"
                     "    try:\n"
                     "        import debugpy\n"
                     "        debugpy.listen(('127.0.0.1', %d))\n"
                     "    finally:\n"
                     "        sys.path.remove('%s')\n"
                     "    def watch():\n"
                     "        import pydevd\n"
                     "        end = time.monotonic() + %d\n"
                     "        while not debugpy.is_client_connected():\n"
                     "            if time.monotonic() > end:\n"
                     "                break\n"
                     "            time.sleep(0.1)\n"
                     "        else:\n"
                     "            while debugpy.is_client_connected():\n"
                     "                time.sleep(0.1)\n"
                     "        pydevd.stoptrace()\n"
                     "    t = threading.Thread(target=watch, name='kdap-debugpy-watch', daemon=True)\n"
                     "    t.is_pydev_daemon_thread = True\n"
                     "    t.start()\n"
                     "_kdap_inject()\n"
                     "del _kdap_inject\n",
                     dir, port, dir, wait_s);
    if (n < 0 || (size_t)n >= sizeof(snippet)) {
        pyi_fail("DIR is too long");
        return 2;
    }

    signal(SIGALRM, pyi_timeout);
    if (ptrace(PTRACE_SEIZE, pyi_pid, 0, 0) < 0) {
        pyi_fail("cannot trace process %d: %s (this needs CAP_SYS_PTRACE or the same user "
                 "with ptrace_scope 0)", (int)pyi_pid, strerror(errno));
        return 1;
    }
    /* Stop it inside a system call: there only general registers and the
     * FP control words are live (see the top). */
    struct user_regs_struct saved;
    int status, tries;
    for (tries = 0; tries < PYI_TRIES; tries++) {
        if (ptrace(PTRACE_INTERRUPT, pyi_pid, 0, 0) < 0 || pyi_wait_stop(&status) < 0) {
            pyi_fail("process %d went away while stopping it", (int)pyi_pid);
            return 1;
        }
        if (ptrace(PTRACE_GETREGS, pyi_pid, 0, &saved) < 0) {
            pyi_fail("PTRACE_GETREGS: %s", strerror(errno));
            return 1;
        }
        if ((long long)saved.orig_rax >= 0)
            break;
        ptrace(PTRACE_CONT, pyi_pid, 0, 0);
        struct timespec ts = {0, PYI_RETRY_NS};
        nanosleep(&ts, NULL);
    }
    if (tries == PYI_TRIES) {
        ptrace(PTRACE_DETACH, pyi_pid, 0, 0);
        pyi_fail("process %d's main thread never waited in a system call in %d tries "
                 "(busy in Python code?); nothing was changed", (int)pyi_pid, PYI_TRIES);
        return 1;
    }
    struct user_fpregs_struct fp;
    if (ptrace(PTRACE_GETFPREGS, pyi_pid, 0, &fp) < 0) {
        int err = errno;
        ptrace(PTRACE_DETACH, pyi_pid, 0, 0);
        pyi_fail("PTRACE_GETFPREGS: %s; nothing was changed", strerror(err));
        return 1;
    }

    /* Snippet below the red zone, calls below the snippet. */
    uint64_t text = (saved.rsp - 128 - (uint64_t)n - 1) & ~(uint64_t)15;
    uint64_t sp = text - 64;
    uint64_t gil = 0, rc = 0, ignored;
    int ok = pyi_mem(1, text, snippet, (size_t)n + 1) == 0 &&
             pyi_call(&saved, s.ensure, 0, sp, &gil) == 0 &&
             pyi_call(&saved, s.run, text, sp, &rc) == 0;
    if (ok || gil != 0)
        ok = pyi_call(&saved, s.release, gil & 0xffffffff, sp, &ignored) == 0 && ok;

    if (ptrace(PTRACE_SETREGS, pyi_pid, 0, &saved) < 0 ||
        ptrace(PTRACE_SETFPREGS, pyi_pid, 0, &fp) < 0) {
        pyi_fail("cannot put process %d's registers back: %s", (int)pyi_pid, strerror(errno));
        return 1;
    }
    ptrace(PTRACE_DETACH, pyi_pid, 0, 0);
    if (!ok) {
        pyi_fail("calling into process %d's interpreter failed", (int)pyi_pid);
        return 1;
    }
    if ((int)rc != 0) {
        pyi_fail("debugpy did not start in process %d (Python %s): the snippet raised; its "
                 "traceback is on the program's stderr", (int)pyi_pid, version);
        return 1;
    }
    printf("debugpy listens on 127.0.0.1:%d in process %d (Python %s)\n", port, (int)pyi_pid,
           version);
    return 0;
}
