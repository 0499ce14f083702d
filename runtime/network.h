/* Wiring a container's network namespace into its VM (Kata's tc model).
 *
 * podman (CNI or netavark), containerd's CNI and the CRI hand a runtime a
 * network namespace holding an interface, usually one end of a veth pair
 * whose other end is on a bridge. For each such interface kiln makes a tap
 * in the same namespace and redirects every frame both ways with tc: an
 * ingress qdisc on each, and a u32 filter whose mirred action sends
 * what arrives on one out of the other. kiln-vmm, which runs in that
 * namespace, attaches the tap as a virtio-net device whose MAC is the
 * interface's, and the agent gives the guest's interface the interface's
 * name, MTU, addresses and the namespace's routes (proto_network). To the
 * bridge, the VM is where the veth was. */
#ifndef KILN_RUNTIME_NETWORK_H
#define KILN_RUNTIME_NETWORK_H

#include <stddef.h>
#include <sys/types.h>

#include "common/error.h"
#include "proto/proto.h"

/* One interface and the tap made for it. */
struct kiln_net_link {
	char interface[16];
	char tap[16];
};

struct kiln_net {
	char *netns; /* the namespace's path; NULL when nothing was wired */
	struct kiln_net_link *links;
	size_t n_links;
	struct proto_network guest; /* what the agent gets */
};

/* Wires the interfaces of the network namespace at netns_path (see the
 * top). An interface that is already redirected (an ingress qdisc on it:
 * another container's VM holds it) is left alone; a namespace with only
 * `lo` gives net->n_links 0. On failure nothing made is left. */
int kiln_net_wire(const char *netns_path, struct kiln_net *net, kiln_error_t *err);

/* Removes the taps and the ingress qdiscs; nothing to do when the
 * namespace is gone (its interfaces went with it). Best effort: failures
 * are logged. */
void kiln_net_unwire(const struct kiln_net *net);

void kiln_net_release(struct kiln_net *net);

/* network.json in the state directory: the namespace and the links, for
 * kiln_net_unwire at delete. Loading an absent file gives an empty net. */
int kiln_net_save(const struct kiln_net *net, const char *path, kiln_error_t *err);
int kiln_net_load(const char *path, struct kiln_net *net, kiln_error_t *err);
/* The taps become uid's and gid's: a jailed kiln-vmm, without
 * CAP_NET_ADMIN, may then attach to them. In the taps' namespace. */
int kiln_net_give_taps(const struct kiln_net *net, uid_t uid, gid_t gid, kiln_error_t *err);

/* kiln check: makes two taps in a throw-away network namespace and
 * redirects one to the other. */
int kiln_net_probe(kiln_error_t *err);

#endif
