/* create's "network": what the host found in the container's network
 * namespace, for the agent to give the guest's interfaces. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/netlink.h"
#include "common/util.h"
#include "proto/proto.h"

void proto_network_release(struct proto_network *n)
{
	for (size_t i = 0; i < n->n_interfaces; i++)
		free(n->interfaces[i].addresses);
	free(n->interfaces);
	free(n->routes);
	*n = (struct proto_network){0};
}

int proto_net_prefix_parse(const char *s, struct proto_net_prefix *p)
{
	char addr[INET6_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t alen = slash ? (size_t)(slash - s) : strlen(s);
	unsigned max;

	*p = (struct proto_net_prefix){0};
	if (alen == 0 || alen >= sizeof(addr))
		return -1;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, p->addr) == 1)
		p->family = AF_INET, max = 32;
	else if (inet_pton(AF_INET6, addr, p->addr) == 1)
		p->family = AF_INET6, max = 128;
	else
		return -1;
	p->len = max;
	if (slash) {
		char *end;
		unsigned long v;

		if (slash[1] < '0' || slash[1] > '9')
			return -1;
		v = strtoul(slash + 1, &end, 10);
		if (*end != '\0' || v > max)
			return -1;
		p->len = (unsigned)v;
	}
	return 0;
}

void proto_net_prefix_format(const struct proto_net_prefix *p, char *out)
{
	char addr[INET6_ADDRSTRLEN] = "?";

	inet_ntop(p->family, p->addr, addr, sizeof(addr));
	snprintf(out, PROTO_NET_PREFIX_STRLEN, "%s/%u", addr, p->len);
}

static void gen_address(kiln_json_gen_t *gen, int family, const uint8_t *addr)
{
	char s[INET6_ADDRSTRLEN] = "?";

	inet_ntop(family, addr, s, sizeof(s));
	kiln_json_gen_string(gen, s);
}

static void gen_prefix(kiln_json_gen_t *gen, const struct proto_net_prefix *p)
{
	char s[PROTO_NET_PREFIX_STRLEN];

	proto_net_prefix_format(p, s);
	kiln_json_gen_string(gen, s);
}

void proto_network_emit(kiln_json_gen_t *gen, const struct proto_network *n)
{
	kiln_json_gen_map_open(gen);
	kiln_json_gen_key(gen, "interfaces");
	kiln_json_gen_array_open(gen);
	for (size_t i = 0; i < n->n_interfaces; i++) {
		const struct proto_net_interface *f = &n->interfaces[i];
		char mac[KILN_MAC_STRLEN];

		kiln_mac_format(f->mac, mac);
		kiln_json_gen_map_open(gen);
		kiln_json_gen_key(gen, "name");
		kiln_json_gen_string(gen, f->name);
		kiln_json_gen_key(gen, "mac");
		kiln_json_gen_string(gen, mac);
		kiln_json_gen_key(gen, "mtu");
		kiln_json_gen_uint64(gen, f->mtu);
		kiln_json_gen_key(gen, "addresses");
		kiln_json_gen_array_open(gen);
		for (size_t a = 0; a < f->n_addresses; a++)
			gen_prefix(gen, &f->addresses[a]);
		kiln_json_gen_array_close(gen);
		kiln_json_gen_map_close(gen);
	}
	kiln_json_gen_array_close(gen);
	kiln_json_gen_key(gen, "routes");
	kiln_json_gen_array_open(gen);
	for (size_t i = 0; i < n->n_routes; i++) {
		const struct proto_net_route *r = &n->routes[i];

		kiln_json_gen_map_open(gen);
		kiln_json_gen_key(gen, "destination");
		gen_prefix(gen, &r->dst);
		if (r->has_gateway) {
			kiln_json_gen_key(gen, "gateway");
			gen_address(gen, r->dst.family, r->gateway);
		}
		kiln_json_gen_key(gen, "interface");
		kiln_json_gen_string(gen, r->interface);
		kiln_json_gen_key(gen, "metric");
		kiln_json_gen_uint64(gen, r->metric);
		kiln_json_gen_map_close(gen);
	}
	kiln_json_gen_array_close(gen);
	kiln_json_gen_map_close(gen);
}

/* ---- Parsing. */

static int get_array(const kiln_json_t *obj, const char *where, const char *key, size_t max,
		     const kiln_json_t **arr, kiln_error_t *err)
{
	int r = kiln_json_get_array(obj, key, arr, err);

	if (r < 0)
		return -1;
	if (r > 0)
		return kiln_error_make(err, 0, "%s.%s: missing", where, key);
	if (kiln_json_array_len(*arr) > max)
		return kiln_error_make(err, 0, "%s.%s: more than %zu entries", where, key, max);
	return 0;
}

static int get_str(const kiln_json_t *obj, const char *where, const char *key, bool required,
		   const char **out, kiln_error_t *err)
{
	int r;

	*out = NULL;
	r = kiln_json_get_string(obj, key, out, err);
	if (r < 0)
		return -1;
	if (r > 0 && required)
		return kiln_error_make(err, 0, "%s.%s: missing", where, key);
	return 0;
}

static int get_ifname(const kiln_json_t *obj, const char *where, const char *key, char out[16],
		      kiln_error_t *err)
{
	const char *s;

	if (get_str(obj, where, key, true, &s, err) < 0)
		return -1;
	if (!kiln_ifname_valid(s))
		return kiln_error_make(err, 0, "%s.%s: \"%.64s\" is not an interface name", where,
				       key, s);
	strcpy(out, s);
	return 0;
}

static int parse_interface(const kiln_json_t *node, const char *where,
			   struct proto_net_interface *f, kiln_error_t *err)
{
	const kiln_json_t *addrs;
	const char *mac;
	int r;

	if (!kiln_json_is_object(node))
		return kiln_error_make(err, 0, "%s: expected an object", where);
	if (get_ifname(node, where, "name", f->name, err) < 0 ||
	    get_str(node, where, "mac", true, &mac, err) < 0)
		return -1;
	if (!kiln_mac_parse(mac, f->mac) || (f->mac[0] & 1))
		return kiln_error_make(err, 0, "%s.mac: \"%.64s\" is not a unicast MAC address",
				       where, mac);
	r = kiln_json_get_uint32(node, "mtu", &f->mtu, err);
	if (r < 0)
		return -1;
	if (r > 0 || f->mtu < 68 || f->mtu > 65535)
		return kiln_error_make(err, 0, "%s.mtu: want 68 to 65535", where);
	if (get_array(node, where, "addresses", PROTO_MAX_ADDRESSES, &addrs, err) < 0)
		return -1;
	f->n_addresses = kiln_json_array_len(addrs);
	f->addresses = xcalloc(f->n_addresses + 1, sizeof(*f->addresses));
	for (size_t i = 0; i < f->n_addresses; i++) {
		const char *s = NULL;

		if (kiln_json_get_string(kiln_json_array_get(addrs, i), "", &s, err) < 0)
			return -1;
		if (s == NULL || proto_net_prefix_parse(s, &f->addresses[i]) < 0)
			return kiln_error_make(err, 0,
					       "%s.addresses[%zu]: not an address with a prefix "
					       "length like \"192.0.2.1/24\"",
					       where, i);
	}
	return 0;
}

static int parse_route(const kiln_json_t *node, const char *where, const struct proto_network *n,
		       struct proto_net_route *rt, kiln_error_t *err)
{
	const char *dst, *gw;
	bool known = false;
	int r;

	if (!kiln_json_is_object(node))
		return kiln_error_make(err, 0, "%s: expected an object", where);
	if (get_str(node, where, "destination", true, &dst, err) < 0 ||
	    get_str(node, where, "gateway", false, &gw, err) < 0 ||
	    get_ifname(node, where, "interface", rt->interface, err) < 0)
		return -1;
	if (proto_net_prefix_parse(dst, &rt->dst) < 0)
		return kiln_error_make(
		    err, 0, "%s.destination: \"%.64s\" is not a prefix like \"0.0.0.0/0\"", where,
		    dst);
	if (gw != NULL) {
		if (inet_pton(rt->dst.family, gw, rt->gateway) != 1)
			return kiln_error_make(err, 0,
					       "%s.gateway: \"%.64s\" is not an IPv%d address",
					       where, gw, rt->dst.family == AF_INET ? 4 : 6);
		rt->has_gateway = true;
	}
	r = kiln_json_get_uint32(node, "metric", &rt->metric, err);
	if (r < 0)
		return -1;
	for (size_t i = 0; i < n->n_interfaces; i++)
		known |= streq(n->interfaces[i].name, rt->interface);
	if (!known)
		return kiln_error_make(err, 0, "%s.interface: \"%s\" is none of the interfaces",
				       where, rt->interface);
	return 0;
}

int proto_network_parse(const kiln_json_t *node, const char *where, struct proto_network *n,
			kiln_error_t *err)
{
	const kiln_json_t *ifs, *routes;

	*n = (struct proto_network){0};
	if (!kiln_json_is_object(node))
		return kiln_error_make(err, 0, "%s: expected an object", where);
	if (get_array(node, where, "interfaces", PROTO_MAX_INTERFACES, &ifs, err) < 0 ||
	    get_array(node, where, "routes", PROTO_MAX_ROUTES, &routes, err) < 0)
		return -1;
	n->interfaces = xcalloc(kiln_json_array_len(ifs) + 1, sizeof(*n->interfaces));
	for (size_t i = 0; i < kiln_json_array_len(ifs); i++) {
		cleanup_free char *w = xasprintf("%s.interfaces[%zu]", where, i);

		n->n_interfaces = i + 1;
		if (parse_interface(kiln_json_array_get(ifs, i), w, &n->interfaces[i], err) < 0)
			goto fail;
		for (size_t j = 0; j < i; j++)
			if (streq(n->interfaces[j].name, n->interfaces[i].name) ||
			    memcmp(n->interfaces[j].mac, n->interfaces[i].mac, 6) == 0) {
				kiln_error_make(err, 0, "%s: the name or MAC of interfaces[%zu]", w,
						j);
				goto fail;
			}
	}
	n->routes = xcalloc(kiln_json_array_len(routes) + 1, sizeof(*n->routes));
	for (size_t i = 0; i < kiln_json_array_len(routes); i++) {
		cleanup_free char *w = xasprintf("%s.routes[%zu]", where, i);

		n->n_routes = i + 1;
		if (parse_route(kiln_json_array_get(routes, i), w, n, &n->routes[i], err) < 0)
			goto fail;
	}
	return 0;
fail:
	proto_network_release(n);
	return -1;
}
