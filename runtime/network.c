/* See network.h. Everything here runs in the container's network
 * namespace, entered for the time of one call and left again (kiln is
 * single-threaded while it does this). */
/* glibc's <net/if.h> before the kernel's headers, which defer to it */
#include <net/if.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_arp.h>
#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/pkt_cls.h>
#include <linux/pkt_sched.h>
#include <linux/tc_act/tc_mirred.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/io.h"
#include "common/json.h"
#include "common/log.h"
#include "common/netlink.h"
#include "common/util.h"
#include "runtime/network.h"

#define TUN_PATH     "/dev/net/tun"
#define INGRESS	     TC_H_MAKE(TC_H_INGRESS, 0) /* the ingress qdisc, "ffff:" */
#define NET_FILE_MAX (64 * 1024)

/* ---- Entering and leaving a network namespace. */

/* Enters the namespace at path; *saved gets this process's to return to. */
static int netns_enter(const char *path, int *saved, kiln_error_t *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return kiln_error_make(err, errno, "network namespace %s", path);
	*saved = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (*saved < 0) {
		int e = errno;

		close(fd);
		return kiln_error_make(err, e, "/proc/self/ns/net");
	}
	if (setns(fd, CLONE_NEWNET) < 0) {
		int e = errno;

		close(fd);
		close(*saved);
		if (e == EINVAL)
			return kiln_error_make(err, 0, "%s is not a network namespace", path);
		return kiln_error_make(err, e, "network namespace %s: cannot enter it", path);
	}
	close(fd);
	return 0;
}

/* Going on in the wrong namespace would configure the host's network. */
static void netns_leave(int saved)
{
	if (setns(saved, CLONE_NEWNET) < 0) {
		log_error("cannot return to kiln's network namespace: %s", strerror(errno));
		abort();
	}
	close(saved);
}

/* ---- What the namespace holds. */

struct link {
	int index;
	char name[IFNAMSIZ];
	uint8_t mac[KILN_MAC_LEN];
	uint32_t mtu;
	bool candidate; /* an Ethernet interface that is not ours */
	bool redirected;
};

struct links {
	struct link *v;
	size_t n;
};

static int on_link(const struct nlmsghdr *h, void *arg)
{
	struct links *ls = arg;
	const struct ifinfomsg *ifi = NLMSG_DATA(h);
	const struct rtattr *tb[IFLA_MAX + 1], *info[IFLA_INFO_MAX + 1];
	struct link l = {.index = ifi->ifi_index};
	const char *kind = NULL;

	if (h->nlmsg_type != RTM_NEWLINK || h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifi)))
		return 0;
	kiln_nl_msg_attrs(h, sizeof(*ifi), tb, IFLA_MAX);
	if (!tb[IFLA_IFNAME] || kiln_nl_len(tb[IFLA_IFNAME]) > IFNAMSIZ)
		return 0;
	memcpy(l.name, kiln_nl_data(tb[IFLA_IFNAME]), kiln_nl_len(tb[IFLA_IFNAME]));
	l.name[IFNAMSIZ - 1] = '\0';
	if (tb[IFLA_MTU] && kiln_nl_len(tb[IFLA_MTU]) == 4)
		memcpy(&l.mtu, kiln_nl_data(tb[IFLA_MTU]), 4);
	if (tb[IFLA_LINKINFO]) {
		kiln_nl_attrs(kiln_nl_data(tb[IFLA_LINKINFO]), kiln_nl_len(tb[IFLA_LINKINFO]), info,
			      IFLA_INFO_MAX);
		if (info[IFLA_INFO_KIND])
			kind = kiln_nl_data(info[IFLA_INFO_KIND]);
	}
	if (ifi->ifi_type == ARPHRD_ETHER && !(ifi->ifi_flags & IFF_LOOPBACK) && tb[IFLA_ADDRESS] &&
	    kiln_nl_len(tb[IFLA_ADDRESS]) == KILN_MAC_LEN &&
	    !(kind && strncmp(kind, "tun", 4) == 0)) {
		memcpy(l.mac, kiln_nl_data(tb[IFLA_ADDRESS]), KILN_MAC_LEN);
		l.candidate = true;
	}
	ls->v = xrealloc(ls->v, (ls->n + 1) * sizeof(*ls->v));
	ls->v[ls->n++] = l;
	return 0;
}

static struct link *link_by_index(struct links *ls, int index)
{
	for (size_t i = 0; i < ls->n; i++)
		if (ls->v[i].index == index)
			return &ls->v[i];
	return NULL;
}

static bool link_named(const struct links *ls, const char *name)
{
	for (size_t i = 0; i < ls->n; i++)
		if (streq(ls->v[i].name, name))
			return true;
	return false;
}

static int on_qdisc(const struct nlmsghdr *h, void *arg)
{
	const struct tcmsg *t = NLMSG_DATA(h);
	struct link *l;

	if (h->nlmsg_type != RTM_NEWQDISC || h->nlmsg_len < NLMSG_LENGTH(sizeof(*t)))
		return 0;
	l = t->tcm_parent == TC_H_INGRESS ? link_by_index(arg, t->tcm_ifindex) : NULL;
	if (l)
		l->redirected = true;
	return 0;
}

static int dump(struct kiln_nl *nl, uint16_t type, const void *fam, size_t fam_len,
		kiln_nl_dump_fn fn, void *arg)
{
	struct kiln_nlmsg m;

	kiln_nlmsg_init(&m, type, 0, fam, fam_len);
	return kiln_nl_dump(nl, &m, fn, arg);
}

/* What the guest gets, being collected: the wired links by index. */
struct collect {
	struct proto_network *net;
	const int *index; /* index[i]: the interface net->interfaces[i] is */
};

static struct proto_net_interface *iface_by_index(struct collect *c, int index, size_t *at)
{
	for (size_t i = 0; i < c->net->n_interfaces; i++)
		if (c->index[i] == index) {
			if (at)
				*at = i;
			return &c->net->interfaces[i];
		}
	return NULL;
}

static int on_addr(const struct nlmsghdr *h, void *arg)
{
	struct collect *c = arg;
	const struct ifaddrmsg *ifa = NLMSG_DATA(h);
	const struct rtattr *tb[IFA_MAX + 1], *a;
	struct proto_net_interface *f;
	size_t len;

	if (h->nlmsg_type != RTM_NEWADDR || h->nlmsg_len < NLMSG_LENGTH(sizeof(*ifa)))
		return 0;
	/* link-local ones the guest makes itself from the same MAC */
	f = iface_by_index(c, (int)ifa->ifa_index, NULL);
	if (!f || ifa->ifa_scope >= RT_SCOPE_LINK || f->n_addresses >= PROTO_MAX_ADDRESSES)
		return 0;
	kiln_nl_msg_attrs(h, sizeof(*ifa), tb, IFA_MAX);
	a = ifa->ifa_family == AF_INET && tb[IFA_LOCAL] ? tb[IFA_LOCAL] : tb[IFA_ADDRESS];
	len = ifa->ifa_family == AF_INET ? 4 : 16;
	if (!a || kiln_nl_len(a) != len ||
	    (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6))
		return 0;
	f->addresses = xrealloc(f->addresses, (f->n_addresses + 1) * sizeof(*f->addresses));
	f->addresses[f->n_addresses] =
	    (struct proto_net_prefix){.family = ifa->ifa_family, .len = ifa->ifa_prefixlen};
	memcpy(f->addresses[f->n_addresses++].addr, kiln_nl_data(a), len);
	return 0;
}

static int on_route(const struct nlmsghdr *h, void *arg)
{
	struct collect *c = arg;
	const struct rtmsg *rt = NLMSG_DATA(h);
	const struct rtattr *tb[RTA_MAX + 1];
	struct proto_net_interface *f = NULL;
	struct proto_net_route r = {0};
	size_t len = rt->rtm_family == AF_INET ? 4 : 16;
	uint32_t table = rt->rtm_table, oif = 0;

	if (h->nlmsg_type != RTM_NEWROUTE || h->nlmsg_len < NLMSG_LENGTH(sizeof(*rt)))
		return 0;
	kiln_nl_msg_attrs(h, sizeof(*rt), tb, RTA_MAX);
	if (tb[RTA_TABLE] && kiln_nl_len(tb[RTA_TABLE]) == 4)
		memcpy(&table, kiln_nl_data(tb[RTA_TABLE]), 4);
	if (tb[RTA_OIF] && kiln_nl_len(tb[RTA_OIF]) == 4)
		memcpy(&oif, kiln_nl_data(tb[RTA_OIF]), 4);
	/* The kernel's own routes (an address's prefix, IPv6 link-local and
	 * multicast) come back in the guest by themselves. */
	if ((rt->rtm_family != AF_INET && rt->rtm_family != AF_INET6) || table != RT_TABLE_MAIN ||
	    rt->rtm_type != RTN_UNICAST || rt->rtm_protocol == RTPROT_KERNEL ||
	    c->net->n_routes >= PROTO_MAX_ROUTES)
		return 0;
	f = iface_by_index(c, (int)oif, NULL);
	if (!f)
		return 0;
	r.dst = (struct proto_net_prefix){.family = rt->rtm_family, .len = rt->rtm_dst_len};
	if (tb[RTA_DST] && kiln_nl_len(tb[RTA_DST]) == len)
		memcpy(r.dst.addr, kiln_nl_data(tb[RTA_DST]), len);
	if (tb[RTA_GATEWAY] && kiln_nl_len(tb[RTA_GATEWAY]) == len) {
		memcpy(r.gateway, kiln_nl_data(tb[RTA_GATEWAY]), len);
		r.has_gateway = true;
	}
	if (tb[RTA_PRIORITY] && kiln_nl_len(tb[RTA_PRIORITY]) == 4)
		memcpy(&r.metric, kiln_nl_data(tb[RTA_PRIORITY]), 4);
	strcpy(r.interface, f->name);
	c->net->routes = xrealloc(c->net->routes, (c->net->n_routes + 1) * sizeof(r));
	c->net->routes[c->net->n_routes++] = r;
	return 0;
}

/* ---- Making taps and filters. */

/* Attaches to tap `name`, made when it does not exist; the fd or <0. */
static int tap_open(const char *name, kiln_error_t *err)
{
	struct ifreq ifr = {.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR};
	int fd = open(TUN_PATH, O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		if (errno == ENOENT)
			return kiln_error_make(err, 0,
					       "%s is missing: taps cannot be made (load the tun "
					       "module: modprobe tun)",
					       TUN_PATH);
		return kiln_error_make(err, errno, "%s", TUN_PATH);
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int e = errno;

		close(fd);
		return kiln_error_make(err, e, "tap %s", name);
	}
	return fd;
}

static int tap_make(const char *name, kiln_error_t *err)
{
	cleanup_close int fd = tap_open(name, err);

	if (fd < 0)
		return -1;
	if (ioctl(fd, TUNSETPERSIST, 1) < 0)
		return kiln_error_make(err, errno, "tap %s", name);
	return 0;
}

int kiln_net_give_taps(const struct kiln_net *net, uid_t uid, gid_t gid, kiln_error_t *err)
{
	for (size_t i = 0; i < net->n_links; i++) {
		cleanup_close int fd = tap_open(net->links[i].tap, err);

		if (fd < 0)
			return -1;
		if (ioctl(fd, TUNSETOWNER, (unsigned long)uid) < 0 ||
		    ioctl(fd, TUNSETGROUP, (unsigned long)gid) < 0)
			return kiln_error_make(err, errno, "tap %s: giving it to uid %u",
					       net->links[i].tap, (unsigned)uid);
	}
	return 0;
}

static int link_del(struct kiln_nl *nl, int index)
{
	struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = index};
	struct kiln_nlmsg m;

	kiln_nlmsg_init(&m, RTM_DELLINK, 0, &ifi, sizeof(ifi));
	return kiln_nl_request(nl, &m);
}

static int link_up(struct kiln_nl *nl, int index, uint32_t mtu)
{
	struct ifinfomsg ifi = {
	    .ifi_family = AF_UNSPEC, .ifi_index = index, .ifi_flags = IFF_UP, .ifi_change = IFF_UP};
	struct kiln_nlmsg m;

	kiln_nlmsg_init(&m, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
	if (mtu)
		kiln_nlmsg_attr_u32(&m, IFLA_MTU, mtu);
	return kiln_nl_request(nl, &m);
}

static int ingress(struct kiln_nl *nl, int index, bool add)
{
	struct tcmsg t = {.tcm_family = AF_UNSPEC,
			  .tcm_ifindex = index,
			  .tcm_handle = INGRESS,
			  .tcm_parent = TC_H_INGRESS};
	struct kiln_nlmsg m;

	kiln_nlmsg_init(&m, add ? RTM_NEWQDISC : RTM_DELQDISC, add ? NLM_F_CREATE | NLM_F_EXCL : 0,
			&t, sizeof(t));
	kiln_nlmsg_attr_str(&m, TCA_KIND, "ingress");
	return kiln_nl_request(nl, &m);
}

/* Everything arriving on from goes out of to, unchanged (Kata's filter):
 * tc filter add dev FROM parent ffff: protocol all u32 match u8 0 0
 *    action mirred egress redirect dev TO
 * u32 rather than matchall: hosts built without cls_matchall have it. */
static int redirect(struct kiln_nl *nl, int from, int to)
{
	struct tcmsg t = {.tcm_family = AF_UNSPEC,
			  .tcm_ifindex = from,
			  .tcm_parent = INGRESS,
			  .tcm_info = TC_H_MAKE(1u << 16, htons(ETH_P_ALL))};
	struct {
		struct tc_u32_sel sel;
		struct tc_u32_key key; /* sel.keys[0]: mask 0 matches all */
	} sel = {.sel = {.flags = TC_U32_TERMINAL, .nkeys = 1}};
	struct tc_mirred mirred = {
	    .action = TC_ACT_STOLEN, .eaction = TCA_EGRESS_REDIR, .ifindex = (uint32_t)to};
	struct rtattr *opts, *acts, *act, *act_opts;
	struct kiln_nlmsg m;

	kiln_nlmsg_init(&m, RTM_NEWTFILTER, NLM_F_CREATE | NLM_F_EXCL, &t, sizeof(t));
	kiln_nlmsg_attr_str(&m, TCA_KIND, "u32");
	opts = kiln_nlmsg_nest(&m, TCA_OPTIONS);
	kiln_nlmsg_attr(&m, TCA_U32_SEL, &sel, sizeof(sel));
	acts = kiln_nlmsg_nest(&m, TCA_U32_ACT);
	act = kiln_nlmsg_nest(&m, 1);
	kiln_nlmsg_attr_str(&m, TCA_ACT_KIND, "mirred");
	act_opts = kiln_nlmsg_nest(&m, TCA_ACT_OPTIONS);
	kiln_nlmsg_attr(&m, TCA_MIRRED_PARMS, &mirred, sizeof(mirred));
	kiln_nlmsg_nest_end(&m, act_opts);
	kiln_nlmsg_nest_end(&m, act);
	kiln_nlmsg_nest_end(&m, acts);
	kiln_nlmsg_nest_end(&m, opts);
	return kiln_nl_request(nl, &m);
}

/* Taps made so far and the interfaces given an ingress qdisc, to undo. */
struct undo {
	int taps[PROTO_MAX_INTERFACES];
	size_t n_taps;
	int ingress[PROTO_MAX_INTERFACES];
	size_t n_ingress;
};

static void undo_run(struct kiln_nl *nl, const struct undo *u)
{
	for (size_t i = 0; i < u->n_ingress; i++)
		ingress(nl, u->ingress[i], false);
	for (size_t i = 0; i < u->n_taps; i++)
		link_del(nl, u->taps[i]);
}

/* Makes tap for interface l and redirects them to each other. */
static int wire_one(struct kiln_nl *nl, const struct link *l, const char *tap, struct undo *u,
		    kiln_error_t *err)
{
	int t, r;

	if (tap_make(tap, err) < 0)
		return -1;
	t = (int)if_nametoindex(tap);
	if (t == 0)
		return kiln_error_make(err, errno, "tap %s", tap);
	u->taps[u->n_taps++] = t;
	r = link_up(nl, t, l->mtu);
	if (r < 0)
		return kiln_error_make(err, -r, "tap %s: setting it up", tap);
	r = ingress(nl, l->index, true);
	if (r < 0)
		return kiln_error_make(err, -r, "tc: ingress qdisc on %s", l->name);
	u->ingress[u->n_ingress++] = l->index;
	r = ingress(nl, t, true);
	if (r < 0)
		return kiln_error_make(err, -r, "tc: ingress qdisc on %s", tap);
	r = redirect(nl, l->index, t);
	if (r == 0)
		r = redirect(nl, t, l->index);
	if (r < 0)
		return kiln_error_make(
		    err, -r, "tc: redirecting %s and %s to each other (u32, mirred)", l->name, tap);
	return 0;
}

/* In the namespace: finds the interfaces, makes the taps. */
static int wire_here(struct kiln_net *net, kiln_error_t *err)
{
	struct kiln_nl nl;
	struct links ls = {0};
	struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
	struct tcmsg tcm = {.tcm_family = AF_UNSPEC};
	struct ifaddrmsg ifa = {.ifa_family = AF_UNSPEC};
	struct rtmsg rtm = {.rtm_family = AF_UNSPEC};
	int index[PROTO_MAX_INTERFACES];
	struct collect c = {.net = &net->guest, .index = index};
	struct undo u = {0};
	int r;

	r = kiln_nl_open(&nl);
	if (r < 0)
		return kiln_error_make(err, -r, "rtnetlink");
	r = dump(&nl, RTM_GETLINK, &ifi, sizeof(ifi), on_link, &ls);
	if (r == 0)
		r = dump(&nl, RTM_GETQDISC, &tcm, sizeof(tcm), on_qdisc, &ls);
	if (r < 0) {
		kiln_error_make(err, -r, "listing the network namespace's interfaces");
		goto out;
	}
	net->guest.interfaces = xcalloc(PROTO_MAX_INTERFACES, sizeof(*net->guest.interfaces));
	net->links = xcalloc(PROTO_MAX_INTERFACES, sizeof(*net->links));
	for (size_t i = 0; i < ls.n; i++) {
		const struct link *l = &ls.v[i];
		struct proto_net_interface *f;
		struct kiln_net_link *k;

		if (!l->candidate)
			continue;
		if (l->redirected) {
			log_warning("network interface %s is already redirected (another VM's?): "
				    "left out",
				    l->name);
			continue;
		}
		if (net->n_links == PROTO_MAX_INTERFACES) {
			r = kiln_error_make(err, 0, "more than %d network interfaces",
					    PROTO_MAX_INTERFACES);
			goto out;
		}
		k = &net->links[net->n_links];
		snprintf(k->interface, sizeof(k->interface), "%s", l->name);
		for (unsigned n = 0;; n++) {
			snprintf(k->tap, sizeof(k->tap), "tap%u_kiln", n);
			if (!link_named(&ls, k->tap))
				break;
		}
		/* later taps of this call count as taken too */
		ls.v = xrealloc(ls.v, (ls.n + 1) * sizeof(*ls.v));
		l = &ls.v[i];
		ls.v[ls.n++] = (struct link){.index = -1};
		snprintf(ls.v[ls.n - 1].name, IFNAMSIZ, "%s", k->tap);
		r = wire_one(&nl, l, k->tap, &u, err);
		if (r < 0)
			goto out;
		f = &net->guest.interfaces[net->n_links];
		snprintf(f->name, sizeof(f->name), "%s", l->name);
		memcpy(f->mac, l->mac, KILN_MAC_LEN);
		f->mtu = l->mtu ? l->mtu : 1500;
		index[net->n_links] = l->index;
		net->n_links++;
		net->guest.n_interfaces = net->n_links;
	}
	if (net->n_links > 0) {
		r = dump(&nl, RTM_GETADDR, &ifa, sizeof(ifa), on_addr, &c);
		if (r == 0)
			r = dump(&nl, RTM_GETROUTE, &rtm, sizeof(rtm), on_route, &c);
		if (r < 0) {
			kiln_error_make(err, -r,
					"listing the network namespace's addresses and routes");
			goto out;
		}
	}
	r = 0;
out:
	if (r < 0)
		undo_run(&nl, &u);
	kiln_nl_close(&nl);
	free(ls.v);
	return r < 0 ? -1 : 0;
}

int kiln_net_wire(const char *netns_path, struct kiln_net *net, kiln_error_t *err)
{
	int saved, r;

	*net = (struct kiln_net){0};
	if (netns_enter(netns_path, &saved, err) < 0)
		return -1;
	r = wire_here(net, err);
	netns_leave(saved);
	if (r < 0 || net->n_links == 0) {
		kiln_net_release(net);
		return r;
	}
	net->netns = xstrdup(netns_path);
	return 0;
}

void kiln_net_unwire(const struct kiln_net *net)
{
	kiln_error_t err = NULL;
	struct kiln_nl nl;
	int saved, r;

	if (net->netns == NULL || net->n_links == 0)
		return;
	if (access(net->netns, F_OK) < 0)
		return; /* the namespace went, and its interfaces with it */
	if (netns_enter(net->netns, &saved, &err) < 0) {
		log_warning("removing the VM's taps: %s", err->msg);
		kiln_error_free(&err);
		return;
	}
	r = kiln_nl_open(&nl);
	for (size_t i = 0; r == 0 && i < net->n_links; i++) {
		int index = (int)if_nametoindex(net->links[i].interface);
		int tap = (int)if_nametoindex(net->links[i].tap);

		/* the qdisc takes its filters with it */
		if (index > 0)
			ingress(&nl, index, false);
		if (tap > 0 && (r = link_del(&nl, tap)) < 0)
			log_warning("removing tap %s: %s", net->links[i].tap, strerror(-r));
		r = 0;
	}
	if (r < 0)
		log_warning("removing the VM's taps: rtnetlink: %s", strerror(-r));
	else
		kiln_nl_close(&nl);
	netns_leave(saved);
}

void kiln_net_release(struct kiln_net *net)
{
	free(net->netns);
	free(net->links);
	proto_network_release(&net->guest);
	*net = (struct kiln_net){0};
}

/* ---- network.json */

int kiln_net_save(const struct kiln_net *net, const char *path, kiln_error_t *err)
{
	cleanup_json_gen kiln_json_gen_t *g = kiln_json_gen_new(true);
	cleanup_free char *out = NULL;
	size_t len;

	kiln_json_gen_map_open(g);
	kiln_json_gen_key(g, "netns");
	kiln_json_gen_string(g, net->netns);
	kiln_json_gen_key(g, "links");
	kiln_json_gen_array_open(g);
	for (size_t i = 0; i < net->n_links; i++) {
		kiln_json_gen_map_open(g);
		kiln_json_gen_key(g, "interface");
		kiln_json_gen_string(g, net->links[i].interface);
		kiln_json_gen_key(g, "tap");
		kiln_json_gen_string(g, net->links[i].tap);
		kiln_json_gen_map_close(g);
	}
	kiln_json_gen_array_close(g);
	kiln_json_gen_map_close(g);
	if (kiln_json_gen_finish(g, &out, &len, err) < 0)
		return -1;
	return kiln_write_file_atomic(path, out, len, 0600, err);
}

int kiln_net_load(const char *path, struct kiln_net *net, kiln_error_t *err)
{
	cleanup_json kiln_json_t *doc = NULL;
	cleanup_free char *text = NULL;
	const kiln_json_t *links = NULL;
	const char *netns = NULL;
	size_t len;

	*net = (struct kiln_net){0};
	if (access(path, F_OK) < 0 && errno == ENOENT)
		return 0;
	if (kiln_read_file(path, NET_FILE_MAX, &text, &len, err) < 0 ||
	    kiln_json_parse(text, len, &doc, err) < 0 ||
	    kiln_json_get_string(doc, "netns", &netns, err) < 0 ||
	    kiln_json_get_array(doc, "links", &links, err) < 0)
		return -1;
	if (netns == NULL || kiln_json_array_len(links) > PROTO_MAX_INTERFACES)
		return kiln_error_make(err, 0, "%s: not kiln's network state", path);
	net->netns = xstrdup(netns);
	net->links = xcalloc(kiln_json_array_len(links) + 1, sizeof(*net->links));
	for (size_t i = 0; i < kiln_json_array_len(links); i++) {
		const kiln_json_t *l = kiln_json_array_get(links, i);
		const char *ifname = NULL, *tap = NULL;

		if (kiln_json_get_string(l, "interface", &ifname, err) < 0 ||
		    kiln_json_get_string(l, "tap", &tap, err) < 0)
			goto fail;
		if (!ifname || !tap || !kiln_ifname_valid(ifname) || !kiln_ifname_valid(tap)) {
			kiln_error_make(err, 0, "%s: links[%zu]: not interface names", path, i);
			goto fail;
		}
		strcpy(net->links[i].interface, ifname);
		strcpy(net->links[i].tap, tap);
		net->n_links = i + 1;
	}
	return 0;
fail:
	kiln_net_release(net);
	return -1;
}

/* ---- kiln check */

/* In a child: the namespace and all in it go when it exits. */
static int probe_child(void *arg, kiln_error_t *err)
{
	struct link a = {.mtu = 1500};
	struct undo u = {0};
	struct kiln_nl nl;
	int r;

	(void)arg;
	if (unshare(CLONE_NEWNET) < 0)
		return kiln_error_make(err, errno, "a network namespace");
	r = kiln_nl_open(&nl);
	if (r < 0)
		return kiln_error_make(err, -r, "rtnetlink");
	snprintf(a.name, sizeof(a.name), "probe0");
	if (tap_make(a.name, err) < 0)
		return -1;
	a.index = (int)if_nametoindex(a.name);
	return wire_one(&nl, &a, "probe1", &u, err);
}

int kiln_net_probe(kiln_error_t *err)
{
	return kiln_call_in_child(probe_child, NULL, "the probe failed", err);
}
