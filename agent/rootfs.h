/* The container's filesystem view, built inside its new mount namespace
 * (so it all disappears with the container): the root filesystem from a
 * virtio-blk disk, the spec's mounts, /dev and linux.devices, pivot_root,
 * masked and read-only paths. It is built by the guest's root, before the
 * process enters a user namespace of its own (container.c). */
#ifndef KILN_AGENT_ROOTFS_H
#define KILN_AGENT_ROOTFS_H

#include "agent/spec.h"
#include "common/error.h"
#include "proto/proto.h"

/* Where containers' root filesystems are mounted: <base>/<id>/rootfs. */
#define AGENT_RUN_DIR "/run/kiln"

/* The device node (/dev/vdX, allocated) of the virtio-blk disk whose serial
 * is serial, looking in sysblock ("/sys/block"). */
int agent_disk_find(const char *sysblock, const char *serial, char **dev, kiln_error_t *err);

/* The path of dest inside rootfs with every symlink resolved inside
 * rootfs; missing directories are created (the last component as a file
 * when as_file). Returns an O_PATH fd. */
int agent_path_in_root(int rootfd, const char *dest, bool as_file, kiln_error_t *err);

/* Mounts the VM's virtio-fs device v->tag at v->path (made if missing),
 * nosuid and nodev, in the caller's mount namespace; one already there is
 * kept. Containers bind-mount paths under it (their volumes). */
int agent_volumes_mount(const struct proto_volumes *v, kiln_error_t *err);

/* Mounts dev (the disk) as dir/rootfs, with an overlay when asked, and
 * returns the rootfs path (allocated). In the caller's mount namespace. */
int agent_rootfs_mount(const char *dir, const char *dev, const struct proto_rootfs *r,
		       char **rootfs, kiln_error_t *err);

/* The spec's mounts under rootfs, default devices when /dev is a fresh
 * mount and the spec's linux.devices, then hostname-independent steps up
 * to pivot_root, sysctls, masked and read-only paths and a read-only root.
 * After it returns 0 the
 * caller's root is the container's. */
int agent_rootfs_setup(const char *rootfs, const struct agent_spec *spec, kiln_error_t *err);

#endif
