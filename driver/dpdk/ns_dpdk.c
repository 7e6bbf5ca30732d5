//go:build cgo && !nodpdk

// Control-path helpers of netsplice's DPDK binding: EAL, port setup,
// mempools, RSS, statistics. None of them runs per packet.

#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "ns_dpdk.h"

static void ns_err(char *err, size_t errlen, const char *what, int e)
{
	snprintf(err, errlen, "%s: %s (errno %d)", what, rte_strerror(e), e);
}

int ns_eal_init(int argc, char **argv, char *err, size_t errlen)
{
	cpu_set_t saved;
	int have = pthread_getaffinity_np(pthread_self(), sizeof(saved), &saved) == 0;
	// EAL logs to stdout by default; stdout belongs to the application:
	// log to stderr, or into Go (RouteLog).
	rte_openlog_stream(ns_log_stream());
	int ret = rte_eal_init(argc, argv);
	int e = rte_errno;
	// EAL pins the calling thread to the main lcore's CPUs. That thread is
	// a Go runtime thread that will run any goroutine: give it back the
	// affinity it had. Softnets pin themselves (stack.Config.CPUs).
	if (have)
		pthread_setaffinity_np(pthread_self(), sizeof(saved), &saved);
	if (ret < 0) {
		ns_err(err, errlen, "rte_eal_init", e);
		return -1;
	}
	return ret;
}

int ns_eal_cleanup(char *err, size_t errlen)
{
	int ret = rte_eal_cleanup();
	if (ret < 0) {
		ns_err(err, errlen, "rte_eal_cleanup", -ret);
		return -1;
	}
	return 0;
}

int ns_thread_register(char *err, size_t errlen)
{
	if (rte_thread_register() != 0) {
		ns_err(err, errlen, "rte_thread_register", rte_errno);
		return -1;
	}
	return (int)rte_lcore_id();
}

void ns_thread_unregister(void)
{
	rte_thread_unregister();
}

int ns_port_by_name(const char *name, uint16_t *port)
{
	return rte_eth_dev_get_port_by_name(name, port);
}

int ns_port_valid(uint16_t port)
{
	return rte_eth_dev_is_valid_port(port);
}

int ns_link(uint16_t port, int *up, uint32_t *speed)
{
	struct rte_eth_link link;
	memset(&link, 0, sizeof(link));
	int ret = rte_eth_link_get_nowait(port, &link);
	if (ret < 0)
		return ret;
	*up = link.link_status == RTE_ETH_LINK_UP;
	*speed = link.link_speed == RTE_ETH_SPEED_NUM_UNKNOWN ? 0 : link.link_speed;
	return 0;
}

int ns_dev_info(uint16_t port, struct ns_devinfo *out, char *err, size_t errlen)
{
	struct rte_eth_dev_info info;
	int ret = rte_eth_dev_info_get(port, &info);
	if (ret < 0) {
		ns_err(err, errlen, "rte_eth_dev_info_get", -ret);
		return -1;
	}
	memset(out, 0, sizeof(*out));
	if (info.driver_name)
		snprintf(out->driver, sizeof(out->driver), "%s", info.driver_name);
	rte_eth_dev_get_name_by_port(port, out->name);
	out->max_rx_queues = info.max_rx_queues;
	out->max_tx_queues = info.max_tx_queues;
	out->reta_size = info.reta_size;
	out->hash_key_size = info.hash_key_size;
	out->rss_offloads = info.flow_type_rss_offloads;
	out->rx_offload_capa = info.rx_offload_capa;
	out->tx_offload_capa = info.tx_offload_capa;
	out->min_mtu = info.min_mtu;
	out->max_mtu = info.max_mtu;
	if (rte_eth_dev_get_mtu(port, &out->mtu) != 0)
		out->mtu = RTE_ETHER_MTU;
	out->socket = rte_eth_dev_socket_id(port);
	struct rte_ether_addr mac;
	if (rte_eth_macaddr_get(port, &mac) == 0)
		memcpy(out->mac, mac.addr_bytes, 6);
	ns_link(port, &out->link_up, &out->link_speed);
	out->tx_seg_max = info.tx_desc_lim.nb_seg_max;
	return 0;
}

int ns_port_configure(uint16_t port, struct ns_portconf *c, char *err, size_t errlen)
{
	struct rte_eth_conf conf;
	memset(&conf, 0, sizeof(conf));
	if (c->rss) {
		conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
		conf.rx_adv_conf.rss_conf.rss_key = c->key;
		conf.rx_adv_conf.rss_conf.rss_key_len = c->key_len;
		conf.rx_adv_conf.rss_conf.rss_hf = c->rss_hf;
	}
	conf.rxmode.offloads = c->rx_offloads;
	conf.txmode.offloads = c->tx_offloads;
	if (c->mtu)
		conf.rxmode.mtu = c->mtu;
	int ret = rte_eth_dev_configure(port, c->nb_rx, c->nb_tx, &conf);
	if (ret < 0) {
		ns_err(err, errlen, "rte_eth_dev_configure", -ret);
		return -1;
	}
	ret = rte_eth_dev_adjust_nb_rx_tx_desc(port, &c->nb_rxd, &c->nb_txd);
	if (ret < 0) {
		ns_err(err, errlen, "rte_eth_dev_adjust_nb_rx_tx_desc", -ret);
		return -1;
	}
	return 0;
}

int ns_port_start(uint16_t port, struct ns_portconf *c, uintptr_t *pools, char *err, size_t errlen)
{
	int socket = rte_eth_dev_socket_id(port);
	char what[64];
	int ret;
	for (uint16_t q = 0; q < c->nb_rx; q++) {
		ret = rte_eth_rx_queue_setup(port, q, c->nb_rxd, socket, NULL, (struct rte_mempool *)pools[q]);
		if (ret < 0) {
			snprintf(what, sizeof(what), "rte_eth_rx_queue_setup(queue %u)", q);
			ns_err(err, errlen, what, -ret);
			return -1;
		}
	}
	for (uint16_t q = 0; q < c->nb_tx; q++) {
		ret = rte_eth_tx_queue_setup(port, q, c->nb_txd, socket, NULL);
		if (ret < 0) {
			snprintf(what, sizeof(what), "rte_eth_tx_queue_setup(queue %u)", q);
			ns_err(err, errlen, what, -ret);
			return -1;
		}
	}
	ret = rte_eth_dev_start(port);
	if (ret < 0) {
		ns_err(err, errlen, "rte_eth_dev_start", -ret);
		return -1;
	}
	if (c->promisc)
		rte_eth_promiscuous_enable(port);
	return 0;
}

int ns_port_allmulticast(uint16_t port)
{
	if (rte_eth_allmulticast_get(port) == 1)
		return 0;
	return rte_eth_allmulticast_enable(port);
}

int ns_port_stop_close(uint16_t port)
{
	int ret = rte_eth_dev_stop(port);
	int ret2 = rte_eth_dev_close(port);
	return ret < 0 ? ret : ret2;
}

struct ns_iter {
	struct ns_objinfo *out;
	uint32_t table;
};

static void ns_obj_init(struct rte_mempool *mp, void *opaque, void *obj, unsigned idx)
{
	(void)mp;
	struct ns_iter *it = opaque;
	struct rte_mbuf *m = obj;
	*(uint64_t *)rte_mbuf_to_priv(m) = (NS_TAG_MAGIC << 48) | ((uint64_t)it->table << 32) | idx;
	it->out[idx].mbuf = (uintptr_t)m;
	it->out[idx].buf = m->buf_addr;
	it->out[idx].buf_len = m->buf_len;
}

struct rte_mempool *ns_pool_create(const char *name, unsigned n, unsigned cache, uint16_t dataroom, int socket,
				   uint32_t table, struct ns_objinfo *out, char *err, size_t errlen)
{
	struct rte_mempool *mp = rte_pktmbuf_pool_create(name, n, cache, NS_PRIV_SIZE, dataroom, socket);
	if (mp == NULL) {
		ns_err(err, errlen, "rte_pktmbuf_pool_create", rte_errno);
		return NULL;
	}
	struct ns_iter it = {out, table};
	if (rte_mempool_obj_iter(mp, ns_obj_init, &it) != n) {
		snprintf(err, errlen, "rte_mempool_obj_iter: not every mbuf was visited");
		rte_mempool_free(mp);
		return NULL;
	}
	return mp;
}

unsigned ns_pool_avail(struct rte_mempool *mp)
{
	return rte_mempool_avail_count(mp);
}

void ns_pool_free(struct rte_mempool *mp)
{
	rte_mempool_free(mp);
}

int ns_rss_get(uint16_t port, uint8_t *key, uint8_t *key_len, uint64_t *hf)
{
	struct rte_eth_rss_conf conf;
	memset(&conf, 0, sizeof(conf));
	conf.rss_key = key;
	conf.rss_key_len = *key_len;
	int ret = rte_eth_dev_rss_hash_conf_get(port, &conf);
	if (ret < 0)
		return ret;
	*key_len = conf.rss_key_len;
	*hf = conf.rss_hf;
	return 0;
}

static struct rte_eth_rss_reta_entry64 *ns_reta_conf(uint16_t size)
{
	unsigned groups = (size + RTE_ETH_RETA_GROUP_SIZE - 1) / RTE_ETH_RETA_GROUP_SIZE;
	struct rte_eth_rss_reta_entry64 *c = calloc(groups, sizeof(*c));
	if (c == NULL)
		return NULL;
	for (unsigned i = 0; i < size; i++)
		c[i / RTE_ETH_RETA_GROUP_SIZE].mask |= 1ULL << (i % RTE_ETH_RETA_GROUP_SIZE);
	return c;
}

int ns_reta_update(uint16_t port, const uint16_t *reta, uint16_t size)
{
	struct rte_eth_rss_reta_entry64 *c = ns_reta_conf(size);
	if (c == NULL)
		return -ENOMEM;
	for (unsigned i = 0; i < size; i++)
		c[i / RTE_ETH_RETA_GROUP_SIZE].reta[i % RTE_ETH_RETA_GROUP_SIZE] = reta[i];
	int ret = rte_eth_dev_rss_reta_update(port, c, size);
	free(c);
	return ret;
}

int ns_reta_query(uint16_t port, uint16_t *reta, uint16_t size)
{
	struct rte_eth_rss_reta_entry64 *c = ns_reta_conf(size);
	if (c == NULL)
		return -ENOMEM;
	int ret = rte_eth_dev_rss_reta_query(port, c, size);
	if (ret == 0)
		for (unsigned i = 0; i < size; i++)
			reta[i] = c[i / RTE_ETH_RETA_GROUP_SIZE].reta[i % RTE_ETH_RETA_GROUP_SIZE];
	free(c);
	return ret;
}

int ns_stats(uint16_t port, uint64_t *out)
{
	struct rte_eth_stats s;
	int ret = rte_eth_stats_get(port, &s);
	if (ret < 0)
		return ret;
	out[0] = s.ipackets;
	out[1] = s.ibytes;
	out[2] = s.opackets;
	out[3] = s.obytes;
	out[4] = s.imissed;
	out[5] = s.ierrors;
	out[6] = s.oerrors;
	out[7] = s.rx_nombuf;
	return 0;
}

// ns_xstats returns the number of extended statistics; with n at least
// that number it also fills names (n slots of RTE_ETH_XSTATS_NAME_SIZE
// bytes) and values, in name order.
int ns_xstats(uint16_t port, char *names, uint64_t *values, int n)
{
	int cnt = rte_eth_xstats_get_names(port, NULL, 0);
	if (cnt < 0 || names == NULL || n < cnt)
		return cnt;
	struct rte_eth_xstat_name *xn = calloc(cnt, sizeof(*xn));
	struct rte_eth_xstat *xs = calloc(cnt, sizeof(*xs));
	if (xn == NULL || xs == NULL) {
		free(xn);
		free(xs);
		return -ENOMEM;
	}
	int got = rte_eth_xstats_get_names(port, xn, cnt);
	int gotv = rte_eth_xstats_get(port, xs, cnt);
	if (got < 0 || gotv < 0 || got > cnt || gotv > cnt) {
		free(xn);
		free(xs);
		return got < 0 ? got : (gotv < 0 ? gotv : -EAGAIN);
	}
	memset(values, 0, sizeof(uint64_t) * cnt);
	for (int i = 0; i < got; i++)
		memcpy(names + (size_t)i * RTE_ETH_XSTATS_NAME_SIZE, xn[i].name, RTE_ETH_XSTATS_NAME_SIZE);
	for (int i = 0; i < gotv; i++)
		if (xs[i].id < (uint64_t)got)
			values[xs[i].id] = xs[i].value;
	free(xn);
	free(xs);
	return got;
}

int ns_lcore_id(void)
{
	unsigned id = rte_lcore_id();
	return id == LCORE_ID_ANY ? -1 : (int)id;
}

void ns_consts(uint64_t *out)
{
	out[NS_C_RSS_IPV4] = RTE_ETH_RSS_IPV4 | RTE_ETH_RSS_FRAG_IPV4 | RTE_ETH_RSS_NONFRAG_IPV4_OTHER;
	out[NS_C_RSS_TCPV4] = RTE_ETH_RSS_NONFRAG_IPV4_TCP;
	out[NS_C_RSS_UDPV4] = RTE_ETH_RSS_NONFRAG_IPV4_UDP;
	out[NS_C_RSS_IPV6] = RTE_ETH_RSS_IPV6 | RTE_ETH_RSS_FRAG_IPV6 | RTE_ETH_RSS_NONFRAG_IPV6_OTHER | RTE_ETH_RSS_IPV6_EX;
	out[NS_C_RSS_TCPV6] = RTE_ETH_RSS_NONFRAG_IPV6_TCP | RTE_ETH_RSS_IPV6_TCP_EX;
	out[NS_C_RSS_UDPV6] = RTE_ETH_RSS_NONFRAG_IPV6_UDP | RTE_ETH_RSS_IPV6_UDP_EX;
	out[NS_C_TX_IPV4_CKSUM] = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
	out[NS_C_TX_UDP_CKSUM] = RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
	out[NS_C_TX_TCP_CKSUM] = RTE_ETH_TX_OFFLOAD_TCP_CKSUM;
	out[NS_C_RX_IPV4_CKSUM] = RTE_ETH_RX_OFFLOAD_IPV4_CKSUM;
	out[NS_C_RX_UDP_CKSUM] = RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
	out[NS_C_RX_TCP_CKSUM] = RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
	out[NS_C_HEADROOM] = RTE_PKTMBUF_HEADROOM;
	out[NS_C_MAX_LCORE] = RTE_MAX_LCORE;
	out[NS_C_XSTATS_NAME_SIZE] = RTE_ETH_XSTATS_NAME_SIZE;
	out[NS_C_TX_TCP_TSO] = RTE_ETH_TX_OFFLOAD_TCP_TSO;
	out[NS_C_TX_MULTI_SEGS] = RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
	out[NS_C_RX_TCP_LRO] = RTE_ETH_RX_OFFLOAD_TCP_LRO;
	out[NS_C_RX_SCATTER] = RTE_ETH_RX_OFFLOAD_SCATTER;
}
