/* The container's network in the guest. The host found the interfaces of
 * the container's network namespace and gave the VM a virtio-net device
 * with each one's MAC (runtime/network.h); here each device, found by that
 * MAC, moves into the container's own network namespace and gets the
 * interface's name, MTU and addresses, then the routes go in, with
 * rtnetlink (there is no `ip` in the guest). The agent's own namespace
 * keeps only its loopback. */
#ifndef KILN_AGENT_NET_H
#define KILN_AGENT_NET_H

#include <sys/types.h>

#include "common/error.h"
#include "proto/proto.h"

/* Moves the devices into the network namespace of process pid and
 * configures them there (in a child process, so the agent never leaves
 * its namespace); brings that namespace's loopback up. */
int agent_net_setup(pid_t pid, const struct proto_network *n, kiln_error_t *err);

/* In the calling process's network namespace, where the devices already
 * are: names, MTUs, up, addresses, routes; and lo up. */
int agent_net_configure(const struct proto_network *n, kiln_error_t *err);

#endif
