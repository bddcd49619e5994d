/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Domain XML: libvirt's format (https://libvirt.org/formatdomain.html),
 * validated against libvirt's own schema, then read through one policy
 * table (domain-conf-policy.c): what the kestrel driver honours is parsed
 * into a DomainDef and formatted back, <metadata> is kept verbatim, and
 * everything else is refused, all of it in one DRV_ERR_CONFIG_UNSUPPORTED
 * error, never dropped.  Errors are in drv-error.h's terms.
 *
 * Pure data and functions: no locking, no I/O; safe from any thread.
 */
#ifndef DRIVER_DOMAIN_CONF_H
#define DRIVER_DOMAIN_CONF_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

#define DOMAIN_MAX_VCPUS 255            /* kestrel -smp limit */
#define DOMAIN_MAX_SERIALS 4            /* COM1..COM4 */

/* What <on_poweroff>, <on_reboot> and <on_crash> ask for. */
typedef enum {
    DOMAIN_LIFECYCLE_DESTROY,
    DOMAIN_LIFECYCLE_RESTART,
    DOMAIN_LIFECYCLE_PRESERVE,
} DomainLifecycleAction;

/* An on/off attribute that may also be absent (kept absent on output). */
typedef enum {
    DOMAIN_TRISTATE_ABSENT,
    DOMAIN_TRISTATE_ON,
    DOMAIN_TRISTATE_OFF,
} DomainTristate;

typedef enum {
    DOMAIN_CHR_PTY,
    DOMAIN_CHR_FILE,
    DOMAIN_CHR_UNIX,
} DomainChrType;

/* One <serial> (port N is COM(N+1)); the <console> is serial port 0. */
typedef struct {
    DomainChrType type;
    char *path;                 /* file, unix: the source path; pty: NULL */
    DomainTristate append;      /* file only */
    bool listen;                /* unix: mode='bind' (else 'connect') */
    unsigned int port;          /* target port, == index in the list */
    char *alias;                /* user alias ("ua-..."), or NULL */
} DomainChr;

typedef enum {
    DOMAIN_BALLOON_VIRTIO,      /* the default when <memballoon> is absent */
    DOMAIN_BALLOON_NONE,
} DomainBalloonModel;

typedef struct {
    DomainBalloonModel model;
    unsigned int stats_period;  /* seconds; 0: no <stats> element */
    DomainTristate autodeflate;         /* -device deflate-on-oom */
    DomainTristate free_page_reporting; /* -device free-page-reporting */
    char *alias;                /* user alias ("ua-..."), or NULL */
    bool has_address;           /* <address type='pci'>: bus 0, function 0 */
    unsigned int pci_slot;
} DomainBalloon;

/* One <timer> of <clock>, as the policy table accepts it. */
typedef struct {
    char *name;                 /* rtc, pit, kvmclock, hpet */
    char *tickpolicy;           /* "delay" or NULL */
    char *present;              /* "yes", "no" or NULL */
} DomainTimer;

/* <cpu>: kestrel's vCPU is the host's; the topology goes to -smp. */
typedef struct {
    bool given;                 /* a <cpu> element was written */
    bool passthrough;           /* mode='host-passthrough' */
    bool check_none;            /* check='none' */
    DomainTristate migratable;
    unsigned int sockets, dies, cores, threads;  /* 0: no <topology> */
} DomainCpu;

/*
 * Elements honoured trivially: they say what every kestrel guest is and
 * change nothing on the command line; kept so that dumpxml returns them.
 */
typedef struct {
    bool boot_hd;               /* <os><boot dev='hd'/> */
    bool vmport_off;            /* <features><vmport state='off'/> */
    bool pm;                    /* <pm> */
    DomainTristate s3, s4;      /* suspend-to-mem / -disk: OFF or ABSENT */
    bool usb_none;              /* <controller type='usb' model='none'/> */
    bool pci_root;              /* <controller type='pci' model='pci-root'/> */
    unsigned int audio_id;      /* <audio id='N' type='none'/>; 0: none */
    bool video_none;            /* <video><model type='none'/></video> */
    bool seclabel_none;         /* <seclabel type='none'/> */
    bool seclabel_model_none;   /* ... model='none' */
} DomainTrivia;

typedef enum {
    DOMAIN_DISK_FILE,           /* <disk type='file'>: a regular file */
    DOMAIN_DISK_BLOCK,          /* <disk type='block'>: a block device */
} DomainDiskType;

typedef enum {
    DOMAIN_DISK_RAW,            /* the default, as libvirt's QEMU driver */
    DOMAIN_DISK_QCOW2,
} DomainDiskFormat;

/*
 * One <disk device='disk'> on bus virtio: a virtio-blk-pci device.  A
 * qcow2 image's backing chain is opened by kestrel from the image header;
 * <backingStore> in the XML is accepted and not kept.
 */
typedef struct {
    DomainDiskType type;
    DomainDiskFormat format;
    char *path;                 /* <source file=|dev=>, absolute */
    char *cache;                /* none, writeback, unsafe, or NULL */
    char *discard;              /* unmap, ignore, or NULL */
    char *error_policy;         /* stop, report, ignore, enospc, or NULL */
    char *rerror_policy;        /* stop, report, ignore, or NULL */
    bool readonly;
    bool shareable;             /* raw only */
    char *serial;               /* <serial>, or NULL */
    char *target;               /* <target dev>: vda, vdb... */
    unsigned int boot_order;    /* <boot order>; 0: none (no effect: the
                                 * kernel is loaded directly) */
    char *alias;                /* user alias ("ua-..."), or NULL */
    unsigned int pci_slot;      /* bus 0 function 0; assigned if absent */
} DomainDisk;

typedef enum {
    DOMAIN_NET_ETHERNET,        /* a tap, nothing more */
    DOMAIN_NET_BRIDGE,          /* a tap enslaved to <source bridge> */
    DOMAIN_NET_NETWORK,         /* the bridge of a libvirt network */
} DomainNetType;

/* One <interface> with model virtio: a virtio-net-pci on a tap. */
typedef struct {
    DomainNetType type;
    unsigned char mac[6];       /* generated 52:54:00:xx:xx:xx if absent */
    char *source;               /* bridge or network name; NULL: ethernet */
    char *ifname;               /* <target dev>, or NULL: vnetN at start */
    unsigned int boot_order;    /* as for disks: no effect */
    char *alias;                /* user alias ("ua-..."), or NULL */
    unsigned int pci_slot;      /* bus 0 function 0; assigned if absent */
} DomainNet;

typedef enum {
    DOMAIN_MEM_SOURCE_DEFAULT,  /* no <source>: anonymous */
    DOMAIN_MEM_SOURCE_ANONYMOUS,
    DOMAIN_MEM_SOURCE_MEMFD,
    DOMAIN_MEM_SOURCE_FILE,
} DomainMemSource;

typedef enum {
    DOMAIN_MEM_ACCESS_DEFAULT,
    DOMAIN_MEM_ACCESS_SHARED,
    DOMAIN_MEM_ACCESS_PRIVATE,
} DomainMemAccess;

/* <memoryBacking>: what guest RAM is made of (plain data, copied by
 * value). */
typedef struct {
    bool given;                 /* a <memoryBacking> element was written */
    bool hugepages;             /* <hugepages> */
    uint64_t hugepage_kib;      /* <hugepages><page size=>; 0: default */
    DomainMemSource source;
    DomainMemAccess access;
    bool immediate;             /* <allocation mode='immediate'> */
    bool ondemand;              /* <allocation mode='ondemand'> (written) */
    unsigned int threads;       /* <allocation threads=>; 0: not given */
    bool locked;                /* <locked/> */
    bool nosharepages;          /* <nosharepages/> */
    bool discard;               /* <discard/> */
} DomainMemBacking;

typedef struct {
    char *name;
    unsigned char uuid[16];     /* generated when <uuid> is absent */
    char *title;                /* NULL when absent */
    char *description;
    char *metadata;             /* <metadata> as written, or NULL */
    char *machine;              /* kestrel, pc or pc-i440fx-*; NULL: none
                                 * written (formatted as 'kestrel') */
    uint64_t memory_kib;        /* <memory>: the guest's RAM */
    uint64_t current_kib;       /* <currentMemory>: balloon target, <= memory */
    DomainMemBacking mem_backing;
    unsigned int vcpus;         /* 1..DOMAIN_MAX_VCPUS */
    struct {
        char *kernel;           /* required: kestrel boots kernels directly */
        char *initrd;
        char *cmdline;
    } os;
    bool acpi, apic, pae;       /* always present in kestrel; acpi always
                                 * formatted, apic and pae as given */
    DomainLifecycleAction on_poweroff;  /* destroy or preserve */
    DomainLifecycleAction on_reboot;    /* restart or destroy */
    DomainLifecycleAction on_crash;     /* any: kestrel has no panic device */
    char *emulator;             /* <emulator>, or NULL for the default */
    GPtrArray *serials;         /* of DomainChr; never NULL */
    DomainBalloon balloon;
    DomainCpu cpu;
    GPtrArray *timers;          /* of DomainTimer; never NULL */
    GPtrArray *disks;           /* of DomainDisk; never NULL */
    GPtrArray *nets;            /* of DomainNet; never NULL */
    DomainTrivia trivia;
} DomainDef;

/* Parse flags. */
enum {
    /* virDomainDefineXMLFlags' VALIDATE: accepted; we always validate. */
    DOMAIN_DEF_PARSE_VALIDATE = 1 << 0,
    /* The XML is a persistent config.  Live-only data (the id, pty paths,
     * aliases that are not "ua-") is ignored on input in every case. */
    DOMAIN_DEF_PARSE_INACTIVE = 1 << 1,
};

/* Format flags: libvirt's virDomainXMLFlags values, passed through. */
enum {
    DOMAIN_DEF_FORMAT_SECURE = 1 << 0,      /* nothing secret: no effect */
    DOMAIN_DEF_FORMAT_INACTIVE = 1 << 1,    /* the config: no live values */
    DOMAIN_DEF_FORMAT_MIGRATABLE = 1 << 3,  /* live memory, no id/aliases */
};

/*
 * Live state for domain_def_format() of a running domain.  The pty of
 * serial port N is what QMP query-chardev reports for the label
 * "charserialN" (domain_command_build's names), without the "pty:" prefix.
 */
typedef struct {
    int id;                     /* the domain id; <= 0: not written */
    uint64_t current_kib;       /* balloon size now; 0: def->current_kib */
    const char *serial_ptys[DOMAIN_MAX_SERIALS];  /* NULL: not known */
    /* The tap of interface N (def->nets order) and the bridge it is on;
     * NULL (or an array shorter than the list): not known. */
    const char *const *net_ifnames;
    const char *const *net_bridges;
    guint n_net_ifnames;
} DomainLive;

/*
 * Parse a libvirt domain XML document.  @flags: DOMAIN_DEF_PARSE_*.
 * Returns a new DomainDef, or NULL with @errp set:
 *  - not well-formed XML: DRV_ERR_XML_DETAIL, libxml2's message;
 *  - root not <domain>: DRV_ERR_XML_ERROR;
 *  - an element, attribute or enumerated value schemas/domain.rng does
 *    not have: DRV_ERR_CONFIG_UNSUPPORTED naming it;
 *  - other schema violations: DRV_ERR_XML_INVALID_SCHEMA;
 *  - bad numbers or names: DRV_ERR_XML_ERROR (DRV_ERR_OVERFLOW for
 *    sizes), things kestrel cannot do: DRV_ERR_CONFIG_UNSUPPORTED;
 *  - unknown @flags: DRV_ERR_INVALID_ARG.
 */
DomainDef *domain_def_parse_string(const char *xml, unsigned int flags,
                                   GError **errp);

/*
 * Format @def as canonical libvirt XML (two-space indent, libvirt's element
 * order and defaults made explicit).  @live: the running domain's state, or
 * NULL for a domain that is not running; ignored with
 * DOMAIN_DEF_FORMAT_INACTIVE.  With @live and no flag, the XML has the id,
 * the live balloon size, pty paths and run-time aliases (serialN,
 * balloon0); MIGRATABLE keeps only the balloon size.  @flags:
 * DOMAIN_DEF_FORMAT_*; other bits (UPDATE_CPU) change nothing.  Never
 * fails; the result is accepted by domain_def_parse_string().
 */
char *domain_def_format(const DomainDef *def, const DomainLive *live,
                        unsigned int flags);

/* A deep copy of @def. */
DomainDef *domain_def_copy(const DomainDef *def);

/* True when @a and @b describe the same configuration. */
bool domain_def_equal(const DomainDef *a, const DomainDef *b);

void domain_def_free(DomainDef *def);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DomainDef, domain_def_free)

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" of @uuid into @out (37 bytes). */
void domain_conf_uuid_format(const unsigned char uuid[16], char out[37]);

/* The path of libvirt's domain.rng the daemon validates against. */
const char *domain_conf_schema_path(void);

/* True when the policy table is sorted (a unit test checks it). */
bool domain_conf_policy_sorted(void);

/* virDomainMetadataType (wire values, never renumber). */
typedef enum {
    DOMAIN_METADATA_DESCRIPTION = 0,
    DOMAIN_METADATA_TITLE = 1,
    DOMAIN_METADATA_ELEMENT = 2,
} DomainMetadataType;

/*
 * virDomainGetMetadata on @def: the description, the title, or the element
 * of <metadata> in namespace @uri (ELEMENT), as a new string.  Absent:
 * DRV_ERR_NO_DOMAIN_METADATA; a bad @type or @uri: DRV_ERR_INVALID_ARG.
 */
char *domain_def_get_metadata(const DomainDef *def, int type,
                              const char *uri, GError **errp);

/*
 * virDomainSetMetadata on @def: @metadata NULL or empty removes the
 * description, the title, or the element in namespace @uri; for ELEMENT
 * @metadata is one XML element, stored in namespace @uri with prefix
 * @key, replacing the element of that namespace.  On error @def is
 * unchanged.
 */
bool domain_def_set_metadata(DomainDef *def, int type, const char *metadata,
                             const char *key, const char *uri,
                             GError **errp);

/* Stable names of the enums, as the XML spells them. */
const char *domain_lifecycle_action_name(DomainLifecycleAction a);
const char *domain_chr_type_name(DomainChrType t);
const char *domain_disk_format_name(DomainDiskFormat f);
const char *domain_net_type_name(DomainNetType t);

/* "52:54:00:12:34:56" of @mac into @out (18 bytes). */
void domain_conf_mac_format(const unsigned char mac[6], char out[18]);

/* The index in def->disks of the disk whose target (vda) or source path
 * is @name, or -1. */
int domain_def_find_disk(const DomainDef *def, const char *name);

/*
 * Run-time names, as libvirt's QEMU driver gives them (never rename: they
 * are kestrel's device ids and block node names, and the aliases dumpxml
 * shows): the user alias if any, else virtio-disk<N> with N the target's
 * index (vda 0, vdb 1...) and net<i> for interface i; the format node of
 * disk i is libvirt-<i+1>-format on libvirt-<i+1>-storage.
 */
char *domain_disk_alias(const DomainDisk *d);
char *domain_net_alias(const DomainNet *n, guint i);
char *domain_disk_node_name(guint i, bool format);


#endif /* DRIVER_DOMAIN_CONF_H */
