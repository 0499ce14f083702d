/* Container networking without a VM: the protocol's network description,
 * the runtime's wiring of a network namespace (a veth end, a tap, tc
 * redirects both ways; checked with iproute2) and the agent's
 * configuration of interfaces found by MAC. The namespaces are the test's
 * own (`ip netns add kiln-unit-<pid>-*`, removed at the end) or belong to
 * child processes and die with them. As root, with /dev/net/tun. */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/net.h"
#include "common/json.h"
#include "common/util.h"
#include "proto/proto.h"
#include "runtime/network.h"
#include "tests/unit/tap.h"

static char ns[64], peer_ns[64];

/* Runs a shell command (printf format); its status. */
__attribute__((format(printf, 1, 2))) static int sh(const char *fmt, ...)
{
	cleanup_free char *cmd = NULL;
	va_list ap;
	int st;

	va_start(ap, fmt);
	cmd = xvasprintf(fmt, ap);
	va_end(ap);
	st = system(cmd);
	if (st != 0)
		tap_diag("`%s`: status %d", cmd, st);
	return st;
}

/* A shell command's output (printf format), allocated. */
__attribute__((format(printf, 1, 2))) static char *out_of(const char *fmt, ...)
{
	cleanup_free char *cmd = NULL;
	char *buf = xzalloc(16384);
	size_t n = 0;
	va_list ap;
	FILE *f;

	va_start(ap, fmt);
	cmd = xvasprintf(fmt, ap);
	va_end(ap);
	f = popen(cmd, "r");
	if (f) {
		n = fread(buf, 1, 16383, f);
		pclose(f);
	}
	buf[n] = '\0';
	return buf;
}

static bool can_run(void)
{
	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) < 0 ||
	    system("command -v ip >/dev/null && command -v tc >/dev/null") != 0) {
		tap_diag("needs root, /dev/net/tun and iproute2");
		return false;
	}
	return true;
}

/* ---- The protocol's description. */

static const char *const good =
    "{\"interfaces\": [{\"name\": \"eth0\", \"mac\": \"02:00:0a:58:00:05\", \"mtu\": 1400,"
    " \"addresses\": [\"10.88.0.5/16\", \"fd00::5/64\"]}],"
    " \"routes\": [{\"destination\": \"0.0.0.0/0\", \"gateway\": \"10.88.0.1\","
    " \"interface\": \"eth0\", \"metric\": 0},"
    " {\"destination\": \"::/0\", \"gateway\": \"fd00::1\", \"interface\": \"eth0\","
    " \"metric\": 1024}]}";

static int parse(const char *text, struct proto_network *n, kiln_error_t *err)
{
	cleanup_json kiln_json_t *doc = NULL;

	if (kiln_json_parse(text, strlen(text), &doc, err) < 0)
		return -1;
	return proto_network_parse(doc, "network", n, err);
}

static int test_proto_round_trip(void)
{
	struct proto_network n = {0}, again = {0};
	cleanup_json_gen kiln_json_gen_t *g = kiln_json_gen_new(false);
	cleanup_free char *out = NULL;
	kiln_error_t err = NULL;
	char s[PROTO_NET_PREFIX_STRLEN];
	size_t len;

	TAP_CHECK(parse(good, &n, &err) == 0);
	TAP_CHECK(n.n_interfaces == 1 && n.n_routes == 2);
	TAP_CHECK_STR(n.interfaces[0].name, "eth0");
	TAP_CHECK(n.interfaces[0].mtu == 1400 && n.interfaces[0].mac[5] == 5);
	TAP_CHECK(n.interfaces[0].n_addresses == 2);
	proto_net_prefix_format(&n.interfaces[0].addresses[1], s);
	TAP_CHECK_STR(s, "fd00::5/64");
	TAP_CHECK(n.routes[0].has_gateway && n.routes[0].dst.len == 0);
	TAP_CHECK(n.routes[1].metric == 1024 && n.routes[1].dst.family == AF_INET6);
	proto_network_emit(g, &n);
	TAP_CHECK(kiln_json_gen_finish(g, &out, &len, &err) == 0);
	TAP_CHECK(parse(out, &again, &err) == 0);
	TAP_CHECK(again.n_interfaces == 1 && again.n_routes == 2);
	TAP_CHECK(memcmp(&again.routes[1], &n.routes[1], sizeof(n.routes[1])) == 0);
	TAP_CHECK(memcmp(again.interfaces[0].addresses, n.interfaces[0].addresses,
			 2 * sizeof(*n.interfaces[0].addresses)) == 0);
	proto_network_release(&n);
	proto_network_release(&again);
	return TAP_PASS;
}

static int test_proto_refuses(void)
{
	static const struct {
		const char *json, *msg;
	} bad[] = {
	    {"{\"interfaces\": [{\"name\": \"eth0\", \"mac\": \"03:00:00:00:00:01\", \"mtu\": "
	     "1500, "
	     "\"addresses\": []}], \"routes\": []}",
	     "network.interfaces[0].mac: \"03:00:00:00:00:01\" is not a unicast MAC address"},
	    {"{\"interfaces\": [{\"name\": \"eth0\", \"mac\": \"02:00:00:00:00:01\", \"mtu\": 20, "
	     "\"addresses\": []}], \"routes\": []}",
	     "network.interfaces[0].mtu: want 68 to 65535"},
	    {"{\"interfaces\": [{\"name\": \"a/b\", \"mac\": \"02:00:00:00:00:01\", \"mtu\": 1500, "
	     "\"addresses\": []}], \"routes\": []}",
	     "network.interfaces[0].name: \"a/b\" is not an interface name"},
	    {"{\"interfaces\": [{\"name\": \"eth0\", \"mac\": \"02:00:00:00:00:01\", \"mtu\": "
	     "1500, "
	     "\"addresses\": [\"10.0.0.1/33\"]}], \"routes\": []}",
	     "network.interfaces[0].addresses[0]: not an address with a prefix length like "
	     "\"192.0.2.1/24\""},
	    {"{\"interfaces\": [], \"routes\": [{\"destination\": \"0.0.0.0/0\", \"interface\": "
	     "\"eth1\"}]}",
	     "network.routes[0].interface: \"eth1\" is none of the interfaces"},
	    {"{\"interfaces\": [{\"name\": \"eth0\", \"mac\": \"02:00:00:00:00:01\", \"mtu\": "
	     "1500, "
	     "\"addresses\": []}], \"routes\": [{\"destination\": \"0.0.0.0/0\", \"gateway\": "
	     "\"fd00::1\", \"interface\": \"eth0\"}]}",
	     "network.routes[0].gateway: \"fd00::1\" is not an IPv4 address"},
	    {"{\"interfaces\": []}", "network.routes: missing"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct proto_network n = {0};
		kiln_error_t err = NULL;

		TAP_CHECK(parse(bad[i].json, &n, &err) < 0);
		TAP_CHECK_STR(err->msg, bad[i].msg);
		kiln_error_free(&err);
		TAP_CHECK(n.interfaces == NULL && n.routes == NULL);
	}
	return TAP_PASS;
}

/* ---- The runtime's wiring. */

/* ns with eth0 (one end of a veth whose other end is in peer_ns), an
 * address of each family and routes, as CNI leaves it. */
static int make_cni_like(void)
{
	snprintf(ns, sizeof(ns), "kiln-unit-%d-a", (int)getpid());
	snprintf(peer_ns, sizeof(peer_ns), "kiln-unit-%d-b", (int)getpid());
	return sh("set -e; ip netns add %s; ip netns add %s;"
		  " ip -n %s link add eth0 type veth peer name peer0 netns %s;"
		  " ip -n %s link set eth0 address 02:00:0a:09:00:05 mtu 1400 up;"
		  " ip -n %s link set lo up; ip -n %s link set peer0 up;"
		  " ip -n %s addr add 10.9.0.5/24 dev eth0;"
		  " ip -n %s addr add fd00:9::5/64 dev eth0 nodad;"
		  " ip -n %s route add default via 10.9.0.1;"
		  " ip -n %s route add 10.10.0.0/16 via 10.9.0.2 metric 7;"
		  " ip -n %s -6 route add default via fd00:9::1",
		  ns, peer_ns, ns, peer_ns, ns, ns, peer_ns, ns, ns, ns, ns, ns);
}

static void remove_namespaces(void)
{
	if (ns[0])
		sh("ip netns del %s; ip netns del %s", ns, peer_ns);
	ns[0] = '\0';
}

static bool has_route(const struct proto_network *n, const char *dst, const char *gw,
		      uint32_t metric)
{
	for (size_t i = 0; i < n->n_routes; i++) {
		struct proto_net_prefix p, g;

		if (proto_net_prefix_parse(dst, &p) < 0 || proto_net_prefix_parse(gw, &g) < 0)
			return false;
		if (n->routes[i].dst.family == p.family && n->routes[i].dst.len == p.len &&
		    memcmp(n->routes[i].dst.addr, p.addr, 16) == 0 && n->routes[i].has_gateway &&
		    memcmp(n->routes[i].gateway, g.addr, 16) == 0 &&
		    n->routes[i].metric == metric && streq(n->routes[i].interface, "eth0"))
			return true;
	}
	return false;
}

static int test_wire(void)
{
	struct kiln_net net = {0}, second = {0}, loaded = {0};
	cleanup_free char *path = NULL, *state = NULL, *filters = NULL, *qdiscs = NULL;
	kiln_error_t err = NULL;
	char s[PROTO_NET_PREFIX_STRLEN];
	int r = TAP_FAIL;

	if (!can_run())
		return TAP_SKIP;
	if (make_cni_like() != 0)
		goto out;
	path = xasprintf("/run/netns/%s", ns);
	if (kiln_net_wire(path, &net, &err) < 0) {
		tap_diag("%s", err->msg);
		goto out;
	}
	if (net.n_links != 1 || !streq(net.links[0].interface, "eth0") ||
	    !streq(net.links[0].tap, "tap0_kiln") || net.guest.n_interfaces != 1)
		goto out;
	if (net.guest.interfaces[0].mtu != 1400 || net.guest.interfaces[0].mac[3] != 9 ||
	    net.guest.interfaces[0].n_addresses != 2)
		goto out;
	/* global addresses only: the link-local one comes from the MAC */
	proto_net_prefix_format(&net.guest.interfaces[0].addresses[0], s);
	if (!streq(s, "10.9.0.5/24"))
		goto out;
	proto_net_prefix_format(&net.guest.interfaces[0].addresses[1], s);
	if (!streq(s, "fd00:9::5/64"))
		goto out;
	/* not the kernel's prefix routes */
	if (net.guest.n_routes != 3 || !has_route(&net.guest, "0.0.0.0/0", "10.9.0.1", 0) ||
	    !has_route(&net.guest, "10.10.0.0/16", "10.9.0.2", 7) ||
	    !has_route(&net.guest, "::/0", "fd00:9::1", 1024))
		goto out;
	filters = out_of("tc -n %s filter show dev eth0 ingress; tc -n %s filter show dev "
			 "tap0_kiln ingress",
			 ns, ns);
	if (!strstr(filters, "Egress Redirect to device tap0_kiln") ||
	    !strstr(filters, "Egress Redirect to device eth0")) {
		tap_diag("filters: %s", filters);
		goto out;
	}
	if (sh("ip -n %s link show tap0_kiln | grep -q 'mtu 1400.*state\\|,UP'", ns) != 0)
		goto out;
	/* A second VM does not get the interface the first holds. */
	if (kiln_net_wire(path, &second, &err) < 0 || second.n_links != 0 || second.netns)
		goto out;
	state = xasprintf("/tmp/kiln-unit-net-%d.json", (int)getpid());
	if (kiln_net_save(&net, state, &err) < 0 || kiln_net_load(state, &loaded, &err) < 0)
		goto out;
	unlink(state);
	if (loaded.n_links != 1 || !streq(loaded.links[0].tap, "tap0_kiln") ||
	    !streq(loaded.netns, path))
		goto out;
	kiln_net_unwire(&loaded);
	qdiscs = out_of("ip -n %s -o link; tc -n %s qdisc show", ns, ns);
	if (strstr(qdiscs, "tap0_kiln") || strstr(qdiscs, "ingress")) {
		tap_diag("left: %s", qdiscs);
		goto out;
	}
	/* A namespace that has gone: nothing to do, no complaint. */
	remove_namespaces();
	kiln_net_unwire(&loaded);
	r = TAP_PASS;
out:
	if (err) {
		tap_diag("%s", err->msg);
		kiln_error_free(&err);
	}
	remove_namespaces();
	kiln_net_release(&net);
	kiln_net_release(&second);
	kiln_net_release(&loaded);
	return r;
}

static int test_wire_refuses(void)
{
	struct kiln_net net = {0};
	kiln_error_t err = NULL;

	if (!can_run())
		return TAP_SKIP;
	TAP_CHECK(kiln_net_wire("/run/netns/kiln-unit-none", &net, &err) < 0);
	TAP_CHECK_STR(err->msg,
		      "network namespace /run/netns/kiln-unit-none: No such file or directory");
	kiln_error_free(&err);
	TAP_CHECK(kiln_net_wire("/proc/self/ns/uts", &net, &err) < 0);
	TAP_CHECK_STR(err->msg, "/proc/self/ns/uts is not a network namespace");
	kiln_error_free(&err);
	TAP_CHECK(net.netns == NULL && net.n_links == 0);
	/* the probe kiln check runs */
	if (kiln_net_probe(&err) < 0) {
		tap_diag("probe: %s", err->msg);
		kiln_error_free(&err);
		return TAP_FAIL;
	}
	return TAP_PASS;
}

/* ---- The agent's side. */

/* In a namespace of its own (the agent's), with a veth end whose MAC the
 * description names: agent_net_setup moves it into the namespace of a
 * second process (the container's) and configures it there. */
static int agent_side(void)
{
	static const char *const desc =
	    "{\"interfaces\": [{\"name\": \"eth0\", \"mac\": \"02:00:0a:09:00:07\", \"mtu\": 1300,"
	    " \"addresses\": [\"10.9.0.7/24\", \"fd00:9::7/64\"]}],"
	    " \"routes\": [{\"destination\": \"10.10.0.0/16\", \"gateway\": \"10.9.0.2\","
	    " \"interface\": \"eth0\", \"metric\": 7},"
	    " {\"destination\": \"0.0.0.0/0\", \"gateway\": \"10.9.0.1\", \"interface\": \"eth0\"},"
	    " {\"destination\": \"192.0.2.0/24\", \"interface\": \"eth0\"}]}";
	struct proto_network n = {0};
	kiln_error_t err = NULL;
	cleanup_free char *addrs = NULL, *routes = NULL, *links = NULL;
	int hold[2], ready[2];
	pid_t ctr;
	char c;
	bool ok;

	if (unshare(CLONE_NEWNET) < 0 || pipe(hold) < 0 || pipe(ready) < 0) {
		tap_diag("unshare: %s", strerror(errno));
		return 1;
	}
	if (sh("ip link add vethx address 02:00:0a:09:00:07 type veth peer name vethy") != 0)
		return 1;
	ctr = fork();
	if (ctr == 0) {
		close(hold[1]);
		if (unshare(CLONE_NEWNET) < 0)
			_exit(1);
		close(ready[1]);
		/* held until the test closes its end */
		_exit(read(hold[0], &c, 1) < 0);
	}
	close(hold[0]);
	close(ready[1]);
	/* EOF once the child is in its namespace */
	if (read(ready[0], &c, 1) < 0)
		return 1;
	if (parse(desc, &n, &err) < 0 || agent_net_setup(ctr, &n, &err) < 0) {
		tap_diag("%s", err->msg);
		return 1;
	}
	addrs = out_of("nsenter --net=/proc/%d/ns/net ip -o addr", (int)ctr);
	routes = out_of("nsenter --net=/proc/%d/ns/net ip route; "
			"nsenter --net=/proc/%d/ns/net ip -6 route",
			(int)ctr, (int)ctr);
	links = out_of("nsenter --net=/proc/%d/ns/net ip -o link; ip -o link", (int)ctr);
	ok = strstr(addrs, "lo    inet 127.0.0.1/8") && strstr(addrs, "eth0    inet 10.9.0.7/24") &&
	     strstr(addrs, "eth0    inet6 fd00:9::7/64") &&
	     strstr(routes, "default via 10.9.0.1 dev eth0") &&
	     strstr(routes, "10.10.0.0/16 via 10.9.0.2 dev eth0 metric 7") &&
	     strstr(routes, "192.0.2.0/24 dev eth0 scope link") && strstr(links, "eth0@") &&
	     strstr(links, "mtu 1300") && !strstr(links, "vethx");
	if (!ok)
		tap_diag("addresses:\n%sroutes:\n%slinks:\n%s", addrs, routes, links);
	/* a MAC no device has */
	n.interfaces[0].mac[5] = 0x99;
	if (agent_net_setup(ctr, &n, &err) == 0 ||
	    !streq(err->msg,
		   "network interface eth0: no device with MAC 02:00:0a:09:00:99 in the VM")) {
		tap_diag("missing device: %s", err ? err->msg : "no error");
		ok = false;
	}
	kiln_error_free(&err);
	close(hold[1]);
	waitpid(ctr, NULL, 0);
	proto_network_release(&n);
	return ok ? 0 : 1;
}

static int test_agent(void)
{
	int st;
	pid_t pid;

	if (!can_run() || system("command -v nsenter >/dev/null") != 0)
		return TAP_SKIP;
	pid = fork();
	if (pid == 0) {
		int r = agent_side();

		fflush(NULL);
		_exit(r);
	}
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return TAP_FAIL;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? TAP_PASS : TAP_FAIL;
}

TAP_MAIN(TAP_TEST(test_proto_round_trip), TAP_TEST(test_proto_refuses), TAP_TEST(test_wire),
	 TAP_TEST(test_wire_refuses), TAP_TEST(test_agent))
