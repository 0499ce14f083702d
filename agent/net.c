#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/net.h"
#include "common/io.h"
#include "common/netlink.h"
#include "common/util.h"

/* The devices of the namespace: index and MAC. */
struct dev {
	int index;
	uint8_t mac[KILN_MAC_LEN];
	bool loopback;
};

struct devs {
	struct dev v[64];
	size_t n;
};

static int on_link(const struct nlmsghdr *h, void *arg)
{
	struct devs *d = arg;
	const struct ifinfomsg *ifi = NLMSG_DATA(h);
	const struct rtattr *tb[IFLA_MAX + 1];
	struct dev *x;

	if (h->nlmsg_type != RTM_NEWLINK || h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)) ||
	    d->n == ARRAY_SIZE(d->v))
		return 0;
	kiln_nl_msg_attrs(h, sizeof(*ifi), tb, IFLA_MAX);
	x = &d->v[d->n++];
	*x = (struct dev){.index = ifi->ifi_index, .loopback = ifi->ifi_flags & IFF_LOOPBACK};
	if (tb[IFLA_ADDRESS] && kiln_nl_len(tb[IFLA_ADDRESS]) == KILN_MAC_LEN)
		memcpy(x->mac, kiln_nl_data(tb[IFLA_ADDRESS]), KILN_MAC_LEN);
	return 0;
}

static int list_devs(struct kiln_nl *nl, struct devs *d, kiln_error_t *err)
{
	struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
	struct kiln_nlmsg m;
	int r;

	d->n = 0;
	kiln_nlmsg_init(&m, RTM_GETLINK, 0, &ifi, sizeof(ifi));
	r = kiln_nl_dump(nl, &m, on_link, d);
	return r < 0 ? kiln_error_make(err, -r, "listing network devices") : 0;
}

static int dev_by_mac(const struct devs *d, const struct proto_net_interface *f, kiln_error_t *err)
{
	char mac[KILN_MAC_STRLEN];

	for (size_t i = 0; i < d->n; i++)
		if (!d->v[i].loopback && memcmp(d->v[i].mac, f->mac, KILN_MAC_LEN) == 0)
			return d->v[i].index;
	kiln_mac_format(f->mac, mac);
	return kiln_error_make(err, 0, "network interface %s: no device with MAC %s in the VM",
			       f->name, mac);
}

static int set_link(struct kiln_nl *nl, int index, const char *name, uint32_t mtu, bool up)
{
	struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = index};
	struct kiln_nlmsg m;

	if (up)
		ifi.ifi_flags = ifi.ifi_change = IFF_UP;
	kiln_nlmsg_init(&m, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
	if (name)
		kiln_nlmsg_attr_str(&m, IFLA_IFNAME, name);
	if (mtu)
		kiln_nlmsg_attr_u32(&m, IFLA_MTU, mtu);
	return kiln_nl_request(nl, &m);
}

static int add_address(struct kiln_nl *nl, int index, const struct proto_net_prefix *p)
{
	size_t len = p->family == AF_INET ? 4 : 16;
	struct ifaddrmsg ifa = {.ifa_family = (uint8_t)p->family,
				.ifa_prefixlen = (uint8_t)p->len,
				.ifa_scope = RT_SCOPE_UNIVERSE,
				.ifa_index = (uint32_t)index};
	struct kiln_nlmsg m;

	kiln_nlmsg_init(&m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &ifa, sizeof(ifa));
	if (p->family == AF_INET)
		kiln_nlmsg_attr(&m, IFA_LOCAL, p->addr, len);
	kiln_nlmsg_attr(&m, IFA_ADDRESS, p->addr, len);
	/* the address is the host's veth's, which no longer answers: no
	 * duplicate detection to wait for */
	if (p->family == AF_INET6)
		kiln_nlmsg_attr_u32(&m, IFA_FLAGS, IFA_F_NODAD);
	return kiln_nl_request(nl, &m);
}

static int add_route(struct kiln_nl *nl, int index, const struct proto_net_route *rt)
{
	size_t len = rt->dst.family == AF_INET ? 4 : 16;
	struct rtmsg r = {.rtm_family = (uint8_t)rt->dst.family,
			  .rtm_dst_len = (uint8_t)rt->dst.len,
			  .rtm_table = RT_TABLE_MAIN,
			  .rtm_protocol = RTPROT_BOOT,
			  .rtm_scope = rt->has_gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK,
			  .rtm_type = RTN_UNICAST};
	struct kiln_nlmsg m;

	kiln_nlmsg_init(&m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &r, sizeof(r));
	if (rt->dst.len > 0)
		kiln_nlmsg_attr(&m, RTA_DST, rt->dst.addr, len);
	if (rt->has_gateway)
		kiln_nlmsg_attr(&m, RTA_GATEWAY, rt->gateway, len);
	kiln_nlmsg_attr_u32(&m, RTA_OIF, (uint32_t)index);
	if (rt->metric)
		kiln_nlmsg_attr_u32(&m, RTA_PRIORITY, rt->metric);
	return kiln_nl_request(nl, &m);
}

static int configure(struct kiln_nl *nl, const struct proto_network *n, kiln_error_t *err)
{
	struct devs d;
	int index[PROTO_MAX_INTERFACES];
	int r;

	if (list_devs(nl, &d, err) < 0)
		return -1;
	for (size_t i = 0; i < d.n; i++)
		if (d.v[i].loopback && (r = set_link(nl, d.v[i].index, NULL, 0, true)) < 0)
			return kiln_error_make(err, -r, "bringing lo up");
	for (size_t i = 0; i < n->n_interfaces && i < PROTO_MAX_INTERFACES; i++) {
		const struct proto_net_interface *f = &n->interfaces[i];

		index[i] = dev_by_mac(&d, f, err);
		if (index[i] < 0)
			return -1;
		/* named while down, then up */
		r = set_link(nl, index[i], f->name, f->mtu, false);
		if (r == 0)
			r = set_link(nl, index[i], NULL, 0, true);
		if (r < 0)
			return kiln_error_make(err, -r, "network interface %s (MTU %u)", f->name,
					       f->mtu);
		for (size_t a = 0; a < f->n_addresses; a++) {
			char s[PROTO_NET_PREFIX_STRLEN];

			r = add_address(nl, index[i], &f->addresses[a]);
			if (r < 0 && r != -EEXIST) {
				proto_net_prefix_format(&f->addresses[a], s);
				return kiln_error_make(err, -r, "network interface %s: address %s",
						       f->name, s);
			}
		}
	}
	/* Routes to the link first: a gateway must be reachable by one. */
	for (int pass = 0; pass < 2; pass++)
		for (size_t i = 0; i < n->n_routes; i++) {
			const struct proto_net_route *rt = &n->routes[i];
			char s[PROTO_NET_PREFIX_STRLEN];
			size_t k = 0;

			if (rt->has_gateway != (pass == 1))
				continue;
			while (k < n->n_interfaces && !streq(n->interfaces[k].name, rt->interface))
				k++;
			if (k == n->n_interfaces || k >= PROTO_MAX_INTERFACES)
				continue; /* proto_network_parse refuses these */
			r = add_route(nl, index[k], rt);
			/* an IPv6 router's advertisement may have been first */
			if (r < 0 && r != -EEXIST) {
				proto_net_prefix_format(&rt->dst, s);
				return kiln_error_make(err, -r, "route to %s via %s", s,
						       rt->interface);
			}
		}
	return 0;
}

int agent_net_configure(const struct proto_network *n, kiln_error_t *err)
{
	struct kiln_nl nl;
	int r = kiln_nl_open(&nl);

	if (r < 0)
		return kiln_error_make(err, -r, "rtnetlink");
	r = configure(&nl, n, err);
	kiln_nl_close(&nl);
	return r;
}

/* In the helper: moves the devices into the namespace at nsfd, enters it
 * and configures them. */
static int move_and_configure(int nsfd, const struct proto_network *n, kiln_error_t *err)
{
	struct kiln_nl nl;
	struct devs d;
	int r = kiln_nl_open(&nl);

	if (r < 0)
		return kiln_error_make(err, -r, "rtnetlink");
	r = list_devs(&nl, &d, err);
	for (size_t i = 0; r == 0 && i < n->n_interfaces; i++) {
		struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
		struct kiln_nlmsg m;

		ifi.ifi_index = dev_by_mac(&d, &n->interfaces[i], err);
		if (ifi.ifi_index < 0) {
			r = -1;
			break;
		}
		kiln_nlmsg_init(&m, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
		kiln_nlmsg_attr_u32(&m, IFLA_NET_NS_FD, (uint32_t)nsfd);
		r = kiln_nl_request(&nl, &m);
		if (r < 0)
			r = kiln_error_make(err, -r,
					    "network interface %s: moving it into the container's "
					    "network namespace",
					    n->interfaces[i].name);
	}
	kiln_nl_close(&nl);
	if (r < 0)
		return -1;
	if (setns(nsfd, CLONE_NEWNET) < 0)
		return kiln_error_make(err, errno, "entering the container's network namespace");
	return agent_net_configure(n, err);
}

struct move_args {
	int nsfd;
	const struct proto_network *n;
};

static int move_child(void *arg, kiln_error_t *err)
{
	const struct move_args *a = arg;

	return move_and_configure(a->nsfd, a->n, err);
}

int agent_net_setup(pid_t pid, const struct proto_network *n, kiln_error_t *err)
{
	cleanup_free char *path = xasprintf("/proc/%d/ns/net", (int)pid);
	cleanup_close int nsfd = open(path, O_RDONLY | O_CLOEXEC);
	struct move_args a = {.nsfd = nsfd, .n = n};

	if (nsfd < 0)
		return kiln_error_make(err, errno, "%s", path);
	return kiln_call_in_child(move_child, &a, "configuring the network failed", err);
}
