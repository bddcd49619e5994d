/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * VmConfig: the command line, parsed into typed data before anything runs.
 * cmdline.c fills it, vmconfig.c holds its constructors; vm.c and main.c
 * consume it. Nothing here touches KVM.
 */
#ifndef KESTREL_VMCONFIG_H
#define KESTREL_VMCONFIG_H

#include <glib.h>
#include <stdbool.h>
#include <stdint.h>

typedef enum {
    CHARDEV_NULL,               /* -serial none / null, -chardev null */
    CHARDEV_STDIO,
    CHARDEV_FILE,               /* path, append */
    CHARDEV_PTY,
    CHARDEV_SOCKET,             /* unix (path) or tcp (host, port) or fd */
} ChardevBackend;

typedef struct {
    char *id;                   /* user id, or generated "serial0", "compat_monitor0" */
    ChardevBackend backend;
    char *path;                 /* file: PATH; socket: unix path */
    char *host;                 /* socket: tcp host */
    char *port;                 /* socket: tcp port */
    int fd;                     /* socket: inherited fd, -1 if none */
    bool append;                /* file */
    bool server;                /* socket */
    bool wait;                  /* socket: server waits for a client at start-up */
    bool is_tcp;                /* socket: tcp rather than unix */
    bool signal;                /* stdio: ^C is a signal (default on) */
} ChardevConfig;

typedef enum {
    MONITOR_MODE_CONTROL,       /* QMP */
    MONITOR_MODE_READLINE,      /* HMP */
} MonitorMode;

typedef struct {
    char *id;                   /* -mon id=, may be NULL */
    char *chardev;              /* id of a ChardevConfig */
    MonitorMode mode;
    bool pretty;
} MonitorConfig;

typedef struct {
    char *driver;               /* -device driver, e.g. "virtio-balloon-pci" */
    char *id;                   /* may be NULL */
    GHashTable *props;          /* char* -> char*, every other key=value, as given */
} DeviceConfig;

/* -object secret (the only user-creatable object kestrel has). */
/* -drive: one image and its backend (QEMU's "BlockBackend"). */
typedef struct {
    char *id;                   /* id=, or QEMU's generated "virtioN" */
    char *file;
    char *format;               /* "raw", "qcow2"; NULL: probe */
    bool virtio;                /* if=virtio: a virtio-blk-pci of its own */
    bool read_only;
    bool cache_direct;          /* cache=none/directsync, cache.direct=on */
    bool cache_no_flush;        /* cache=unsafe, cache.no-flush=on */
    bool discard_unmap;         /* discard=unmap|on */
    char *werror;               /* NULL: the device's default */
    char *rerror;
} DriveConfig;

/* -netdev tap: a tap opened by name, or handed over as an fd. */
typedef struct {
    char *id;
    char *ifname;               /* NULL: the kernel picks tapN */
    int fd;                     /* fd=/fds=, -1: open ifname */
    int vnet_hdr;               /* -1 auto (use it if the tap has it), 0, 1 */
    bool vhost;                 /* vhost=on asked (we fall back to ours) */
} NetdevConfig;

typedef struct {
    char *id;
    bool base64;                /* format=base64; else raw */
    char *data;                 /* data=, or NULL */
    char *file;                 /* file=, or NULL: exactly one is set */
} SecretConfig;

/* Where guest RAM comes from (-object memory-backend-*, -mem-path). */
typedef enum {
    MEM_BACKEND_RAM,            /* anonymous memory (share=on: a memfd) */
    MEM_BACKEND_MEMFD,          /* a memfd, hugetlb optionally */
    MEM_BACKEND_FILE,           /* a file, or a temporary file in a dir */
} MemBackendType;

typedef struct {
    char *id;                   /* NULL for -mem-path's and the default */
    MemBackendType type;
    uint64_t size;              /* bytes */
    bool share;                 /* MAP_SHARED: another process may map it */
    bool hugetlb;               /* memfd: hugetlb=on */
    uint64_t hugetlbsize;       /* memfd: 0 is the host's default */
    bool seal;                  /* memfd: no grow/shrink once sized */
    char *mem_path;             /* file: a file, or a directory */
    bool prealloc;              /* every page allocated before start */
    unsigned int prealloc_threads;
    bool discard_data;          /* file: its data is dropped at exit */
    bool merge;                 /* KSM may merge its pages */
    bool merge_given;           /* else the machine's mem-merge decides */
} MemBackendConfig;

/* -sandbox: which of QEMU's groups of system calls the filter denies. */
typedef enum {
    SANDBOX_PRIV_ALLOW,
    SANDBOX_PRIV_DENY,
    SANDBOX_PRIV_CHILDREN,      /* as deny (QEMU's meaning), no_new_privs */
} SandboxPriv;

typedef struct {
    bool enable;                /* -sandbox on */
    bool obsolete;              /* obsolete=deny (the default when on) */
    SandboxPriv elevate;        /* elevateprivileges= */
    bool spawn;                 /* spawn=deny */
    bool resourcecontrol;       /* resourcecontrol=deny */
} SandboxConfig;

typedef struct {
    /* -machine / -M / -accel / -enable-kvm */
    char *machine;              /* "kestrel" (the default; "none" for probing) */
    bool kvm_requested;         /* accel list was given and contained kvm */
    bool qtest_accel;           /* -accel qtest: no vCPU runs, no KVM */
    char *qtest;                /* -qtest unix:PATH[,server=on], or NULL */

    /* -cpu */
    char *cpu_model;            /* "host" (default) or "max" */

    /* -m */
    uint64_t ram_size;          /* bytes; default 128 MiB */

    /* -smp */
    unsigned int cpus;          /* default 1 */
    unsigned int max_cpus;      /* >= cpus */
    unsigned int sockets, dies, cores, threads;

    /* boot */
    char *kernel;
    char *initrd;
    char *append;

    /* identity */
    char *name;                 /* -name [guest=]NAME */
    bool debug_threads;         /* -name ...,debug-threads=on */
    char *process_name;         /* -name ...,process=PROCNAME, may be NULL */
    bool has_uuid;
    uint8_t uuid[16];

    /* character devices: every chardev, explicit (-chardev) or implied by
     * -serial/-qmp/-nographic, in command-line order. Owns ChardevConfig. */
    GPtrArray *chardevs;
    /* serial ports in order (COM1, COM2, ...): chardev ids, NULL for none. */
    GPtrArray *serials;
    GPtrArray *monitors;        /* owns MonitorConfig */
    GPtrArray *devices;         /* owns DeviceConfig */
    GPtrArray *drives;          /* owns DriveConfig, -drive */
    GPtrArray *netdevs;         /* owns NetdevConfig, -netdev */
    /* -blockdev, in order, each a JSON object as QEMU's BlockdevOptions
     * (the key=value form converted: dotted keys nest, values strings). */
    GPtrArray *blockdevs;       /* owns JsonNode */

    GPtrArray *secrets;         /* owns SecretConfig, -object secret */

    /* guest RAM: every -object memory-backend-*, and the machine's */
    GPtrArray *mem_backends;    /* owns MemBackendConfig */
    GPtrArray *rngs;            /* -object rng-random/rng-builtin ids */
    char *ram_memdev;           /* -machine memory-backend=ID, or NULL */
    char *mem_path;             /* -mem-path */
    bool mem_prealloc;          /* -mem-prealloc */
    bool mem_merge;             /* -machine mem-merge (default on) */
    bool mem_lock;              /* -overcommit mem-lock=on: mlockall */
    /* What guest RAM is made of, resolved by cmdline_finish() from the
     * above (always set after a successful parse; size = ram_size). */
    MemBackendConfig *ram_backend;

    /* run control */
    bool start_paused;          /* -S */
    bool incoming_defer;        /* -incoming defer: wait in inmigrate */
    char *incoming_uri;         /* -incoming URI (not defer), or NULL */
    bool msg_timestamp;         /* -msg timestamp=on */
    bool no_reboot;             /* guest reset ends the VM (exit 0) */
    bool no_shutdown;           /* guest power-off pauses in state shutdown */
    bool daemonize;
    bool nographic;
    bool display_none;
    bool nodefaults;
    char *pidfile;
    char *logfile;              /* -D */

    /* confinement after set-up (sandbox.c) */
    SandboxConfig sandbox;
    char *runas;                /* -runas as given, NULL if none */
    char *runas_user;           /* its user name, NULL for UID:GID */
    unsigned int runas_uid;
    unsigned int runas_gid;
    char *chroot_dir;           /* -chroot */
} VmConfig;

/* What the caller does after parsing. */
typedef enum {
    CMDLINE_RUN,                /* start the VM described by the config */
    CMDLINE_EXIT,               /* -help / -version / "-machine help" printed; exit 0 */
} CmdlineAction;

VmConfig *vm_config_new(void);
void vm_config_free(VmConfig *cfg);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(VmConfig, vm_config_free)

/* Free one element of cfg->chardevs / monitors / devices (NULL is fine).
 * The arrays own their elements and call these. */
void vm_config_chardev_free(ChardevConfig *chr);
void vm_config_monitor_free(MonitorConfig *mon);
void vm_config_device_free(DeviceConfig *dev);
void vm_config_secret_free(SecretConfig *sec);
void vm_config_drive_free(DriveConfig *drv);
void vm_config_netdev_free(NetdevConfig *nd);
void vm_config_mem_backend_free(MemBackendConfig *mb);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(MemBackendConfig, vm_config_mem_backend_free)
MemBackendConfig *vm_config_mem_backend_copy(const MemBackendConfig *mb);

/* The type's -object name ("memory-backend-ram", ...). Never rename. */
const char *vm_config_mem_backend_type_name(MemBackendType type);

/*
 * A secret file may hold this much (QEMU's secrets are keys and passwords:
 * a few bytes); more is refused rather than read on the main loop.
 */
#define SECRET_FILE_MAX (64u * 1024)

/*
 * vm_config_secret_load: the value of secret @sec, decoded (format=base64)
 * and read from its file if it has one: a regular file of at most
 * SECRET_FILE_MAX bytes, opened without blocking.  Returns NULL with @errp
 * set (naming the file).
 */
GBytes *vm_config_secret_load(const SecretConfig *sec, GError **errp);

/* Look up a chardev by id; NULL if absent. */
ChardevConfig *vm_config_find_chardev(const VmConfig *cfg, const char *id);

#endif /* KESTREL_VMCONFIG_H */
