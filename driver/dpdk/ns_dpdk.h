//go:build cgo && !nodpdk

// C helpers of netsplice's DPDK binding. The hot-path helpers are static
// inline wrappers around DPDK's inline functions (rx/tx burst, bulk mbuf
// allocation): Go calls each of them once per burst. The control-path
// helpers live in ns_dpdk.c.
#ifndef NS_DPDK_H
#define NS_DPDK_H

#include <stdint.h>
#include <stdio.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

// Every mbuf of a netsplice mempool carries a tag in its private area:
// NS_TAG_MAGIC in the top 16 bits, the descriptor table in the next 16 and
// the descriptor index in the low 32.
#define NS_TAG_MAGIC 0x4e53ULL
#define NS_PRIV_SIZE 8

// Receive flags, equal to driver.Flags (checked by a test).
#define NS_RX_HASH 1u
#define NS_RX_IPCK_GOOD 2u
#define NS_RX_IPCK_BAD 4u
#define NS_RX_L4CK_GOOD 8u
#define NS_RX_L4CK_BAD 16u
// NS_RX_COALESCED equals driver.RxTCPCoalesced: the NIC coalesced the
// frame (LRO); set with NS_RX_L4CK_GOOD.
#define NS_RX_COALESCED 32u
// NS_RX_UNSUPPORTED marks a chained or externally attached mbuf, which a
// descriptor cannot describe: the binding drops it.
#define NS_RX_UNSUPPORTED (1u << 31)

// Transmit flags, equal to driver.Flags.
#define NS_TX_IPCK (1u << 16)
#define NS_TX_UDPCK (1u << 17)
#define NS_TX_TCPCK (1u << 18)
#define NS_TX_IPV6 (1u << 19)

// ns_rxmeta is what Go needs of a received mbuf. A frame the NIC
// coalesced (LRO) into a chain of nseg+1 mbufs has its other nseg
// segments described, in order, in the burst's ns_rxseg array, and segsz
// is the size of the segments it was coalesced from.
struct ns_rxmeta {
	uint64_t tag;
	uint32_t hash;
	uint32_t flags;
	uint16_t off;
	uint16_t len;
	uint16_t nseg;
	uint16_t segsz;
};

// ns_rxseg describes one mbuf of a coalesced chain after the first, taken
// off the chain (so each mbuf is a frame of its own to free).
struct ns_rxseg {
	uintptr_t mb;
	uint64_t tag;
	uint16_t off;
	uint16_t len;
	uint32_t pad;
};

// ns_txmeta is what Go writes back into an mbuf before transmission.
struct ns_txmeta {
	uint16_t off;
	uint16_t len;
	uint16_t l2;
	uint16_t l3;
	uint32_t flags;
	uint32_t pad;
};

static inline uint64_t ns_tag(const struct rte_mbuf *m)
{
	if (rte_pktmbuf_priv_size(m->pool) < NS_PRIV_SIZE)
		return 0;
	return *(const uint64_t *)rte_mbuf_to_priv((struct rte_mbuf *)m);
}

// ns_unchain describes the mbufs of LRO chain b after the first in seg
// (room for segcap) and takes them off the chain; it reports false, the
// chain untouched, when they do not fit or one cannot be described.
static inline int ns_unchain(struct rte_mbuf *b, struct ns_rxseg *seg, uint16_t segcap)
{
	if (b->nb_segs - 1 > segcap || RTE_MBUF_HAS_EXTBUF(b) || RTE_MBUF_CLONED(b))
		return 0;
	for (const struct rte_mbuf *s = b->next; s != NULL; s = s->next)
		if (RTE_MBUF_HAS_EXTBUF(s) || RTE_MBUF_CLONED(s) || s->pool != b->pool)
			return 0;
	uint16_t k = 0;
	struct rte_mbuf *s = b->next;
	while (s != NULL) {
		struct rte_mbuf *next = s->next;
		seg[k].mb = (uintptr_t)s;
		seg[k].tag = ns_tag(s);
		seg[k].off = s->data_off;
		seg[k].len = s->data_len;
		s->next = NULL;
		s->nb_segs = 1;
		s->pkt_len = s->data_len;
		k++;
		s = next;
	}
	b->next = NULL;
	b->nb_segs = 1;
	b->pkt_len = b->data_len;
	return 1;
}

// ns_rx_burst receives up to n mbufs into mb and describes each in meta.
// With lro set, a chain the NIC coalesced is described too: its mbufs
// after the first go to seg (room for segcap in all), each taken off
// the chain.
static inline uint16_t ns_rx_burst(uint16_t port, uint16_t q, uintptr_t *mb, struct ns_rxmeta *meta, uint16_t n,
	struct ns_rxseg *seg, uint16_t segcap, int lro)
{
	uint16_t used = 0;
	struct rte_mbuf **m = (struct rte_mbuf **)mb;
	uint16_t k = rte_eth_rx_burst(port, q, m, n);
	for (uint16_t i = 0; i < k; i++) {
		const struct rte_mbuf *b = m[i];
		uint64_t of = b->ol_flags;
		uint32_t f = 0;
		if (of & RTE_MBUF_F_RX_RSS_HASH)
			f |= NS_RX_HASH;
		// _NONE: the checksum in the frame is not filled in, but the
		// data was verified (a virtio peer's offloaded checksum).
		switch (of & RTE_MBUF_F_RX_IP_CKSUM_MASK) {
		case RTE_MBUF_F_RX_IP_CKSUM_GOOD:
		case RTE_MBUF_F_RX_IP_CKSUM_NONE:
			f |= NS_RX_IPCK_GOOD;
			break;
		case RTE_MBUF_F_RX_IP_CKSUM_BAD:
			f |= NS_RX_IPCK_BAD;
			break;
		}
		switch (of & RTE_MBUF_F_RX_L4_CKSUM_MASK) {
		case RTE_MBUF_F_RX_L4_CKSUM_GOOD:
		case RTE_MBUF_F_RX_L4_CKSUM_NONE:
			f |= NS_RX_L4CK_GOOD;
			break;
		case RTE_MBUF_F_RX_L4_CKSUM_BAD:
			f |= NS_RX_L4CK_BAD;
			break;
		}
		meta[i].nseg = 0;
		meta[i].segsz = 0;
		if (lro && (of & RTE_MBUF_F_RX_LRO)) {
			f |= NS_RX_COALESCED | NS_RX_L4CK_GOOD;
			f &= ~NS_RX_L4CK_BAD;
			meta[i].segsz = b->tso_segsz;
			if (b->nb_segs > 1) {
				uint16_t ns = b->nb_segs - 1;
				if (ns_unchain(m[i], seg + used, segcap - used)) {
					meta[i].nseg = ns;
					used += ns;
				} else {
					f |= NS_RX_UNSUPPORTED;
				}
			}
		}
		if (b->nb_segs != 1 || RTE_MBUF_HAS_EXTBUF(b) || RTE_MBUF_CLONED(b))
			f |= NS_RX_UNSUPPORTED;
		meta[i].tag = ns_tag(b);
		meta[i].hash = b->hash.rss;
		meta[i].flags = f;
		meta[i].off = b->data_off;
		meta[i].len = b->data_len;
	}
	return k;
}

// ns_tx_burst writes the frame layout and offload requests of meta into
// the n mbufs of mb and transmits them; it returns how many the PMD took.
// With prepare set it runs rte_eth_tx_prepare first (checksum offloads).
static inline uint16_t ns_tx_burst(uint16_t port, uint16_t q, uintptr_t *mb, const struct ns_txmeta *meta, uint16_t n, int prepare)
{
	struct rte_mbuf **m = (struct rte_mbuf **)mb;
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *b = m[i];
		uint32_t f = meta[i].flags;
		uint64_t of = b->ol_flags & (RTE_MBUF_F_EXTERNAL | RTE_MBUF_F_INDIRECT);
		b->data_off = meta[i].off;
		b->data_len = meta[i].len;
		b->pkt_len = meta[i].len;
		if (f & (NS_TX_IPCK | NS_TX_UDPCK | NS_TX_TCPCK)) {
			of |= (f & NS_TX_IPV6) ? RTE_MBUF_F_TX_IPV6 : RTE_MBUF_F_TX_IPV4;
			if (f & NS_TX_IPCK)
				of |= RTE_MBUF_F_TX_IP_CKSUM;
			if (f & NS_TX_UDPCK)
				of |= RTE_MBUF_F_TX_UDP_CKSUM;
			else if (f & NS_TX_TCPCK)
				of |= RTE_MBUF_F_TX_TCP_CKSUM;
			b->l2_len = meta[i].l2;
			b->l3_len = meta[i].l3;
		}
		b->ol_flags = of;
	}
	if (prepare)
		n = rte_eth_tx_prepare(port, q, m, n);
	return rte_eth_tx_burst(port, q, m, n);
}

// ns_piece is one piece of a TSO packet's payload: len bytes at data
// offset off of the direct mbuf mb, carried by the spare mbuf ind, which
// becomes an indirect mbuf attached to mb.
struct ns_piece {
	uintptr_t ind;
	uintptr_t mb;
	uint16_t off;
	uint16_t len;
	uint32_t pad;
};

// ns_tx_tso sends one TCP super-frame as a chain the NIC segments: the
// header mbuf hdr (its frame at off, len bytes of headers: l2, l3 and l4
// of them) followed by the n payload pieces, each attached (a reference
// on its mbuf), with TSO requested for segments of segsz payload bytes
// (IPv4, the TCP checksum by the NIC, the header's too with ipck set, as
// a NIC that fills each segment's IPv4 header checksum needs; IPv6 with
// v6 set). It returns 1 when
// the PMD took the chain; 0 when its ring was full, the chain then freed
// here (the header mbuf to its pool, the pieces detached), so either way
// hdr and the spare mbufs are no longer the caller's; -1 when
// rte_eth_tx_prepare refused the chain (a limit of the NIC's), which is
// then taken apart again, hdr and the spare mbufs still the caller's, for
// it to segment in software.
static inline int ns_tx_tso(uint16_t port, uint16_t q, uintptr_t hdr, uint16_t off, uint16_t len, uint16_t l2, uint16_t l3, uint16_t l4,
	uint16_t segsz, const struct ns_piece *pieces, uint16_t n, int v6, int ipck)
{
	struct rte_mbuf *h = (struct rte_mbuf *)hdr;
	uint64_t keep = h->ol_flags & (RTE_MBUF_F_EXTERNAL | RTE_MBUF_F_INDIRECT);
	h->data_off = off;
	h->data_len = len;
	h->next = NULL;
	uint32_t total = len;
	struct rte_mbuf *prev = h;
	for (uint16_t i = 0; i < n; i++) {
		struct rte_mbuf *mi = (struct rte_mbuf *)pieces[i].ind;
		rte_pktmbuf_attach(mi, (struct rte_mbuf *)pieces[i].mb);
		mi->data_off = pieces[i].off;
		mi->data_len = pieces[i].len;
		mi->pkt_len = pieces[i].len;
		mi->next = NULL;
		prev->next = mi;
		prev = mi;
		total += pieces[i].len;
	}
	h->nb_segs = n + 1;
	h->pkt_len = total;
	h->ol_flags = keep | RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_TCP_CKSUM |
		(v6 ? RTE_MBUF_F_TX_IPV6 : RTE_MBUF_F_TX_IPV4) | (ipck ? RTE_MBUF_F_TX_IP_CKSUM : 0);
	h->l2_len = l2;
	h->l3_len = l3;
	h->l4_len = l4;
	h->tso_segsz = segsz;
	if (rte_eth_tx_prepare(port, q, &h, 1) != 1) {
		for (uint16_t i = 0; i < n; i++)
			rte_pktmbuf_detach((struct rte_mbuf *)pieces[i].ind);
		h->next = NULL;
		h->nb_segs = 1;
		h->pkt_len = len;
		h->ol_flags = keep;
		return -1;
	}
	if (rte_eth_tx_burst(port, q, &h, 1) == 1)
		return 1;
	rte_pktmbuf_free(h);
	return 0;
}

// ns_alloc_bulk allocates up to n mbufs from mp into mb and stores their
// tags in tags. rte_pktmbuf_alloc_bulk is all or nothing, so on failure it
// retries with half as many: a nearly empty pool still hands out what it
// has, in one call from Go.
static inline unsigned ns_alloc_bulk(struct rte_mempool *mp, uintptr_t *mb, uint64_t *tags, unsigned n)
{
	struct rte_mbuf **m = (struct rte_mbuf **)mb;
	while (n > 0 && rte_pktmbuf_alloc_bulk(mp, m, n) != 0)
		n /= 2;
	for (unsigned i = 0; i < n; i++)
		tags[i] = ns_tag(m[i]);
	return n;
}

// ns_free_bulk returns n mbufs (of any pools) to their pools.
static inline void ns_free_bulk(uintptr_t *mb, unsigned n)
{
	rte_pktmbuf_free_bulk((struct rte_mbuf **)mb, n);
}

// ns_objinfo describes one mbuf of a new pool to Go.
struct ns_objinfo {
	uintptr_t mbuf;
	void *buf;
	uint32_t buf_len;
	uint32_t pad;
};

// ns_devinfo is the part of rte_eth_dev_info the binding uses.
struct ns_devinfo {
	char driver[64];
	char name[RTE_ETH_NAME_MAX_LEN];
	uint16_t max_rx_queues, max_tx_queues;
	uint16_t reta_size;
	uint8_t hash_key_size;
	uint64_t rss_offloads;
	uint64_t rx_offload_capa, tx_offload_capa;
	uint16_t min_mtu, max_mtu, mtu;
	int socket;
	uint8_t mac[6];
	int link_up;
	uint32_t link_speed;
	uint16_t tx_seg_max; // most segments of one TSO packet (tx_desc_lim.nb_seg_max)
};

// ns_portconf is the port configuration Go asks for.
struct ns_portconf {
	uint16_t nb_rx, nb_tx;
	uint16_t nb_rxd, nb_txd; // in: wanted; out: adjusted
	int rss;
	uint64_t rss_hf;
	uint8_t key[64];
	uint8_t key_len;
	uint64_t rx_offloads, tx_offloads;
	uint16_t mtu;
	int promisc;
};

int ns_eal_init(int argc, char **argv, char *err, size_t errlen);
// ns_log.c: DPDK's log stream, stderr unless routed into Go.
FILE *ns_log_stream(void);
int ns_log_route(int on);
int ns_eal_cleanup(char *err, size_t errlen);
int ns_thread_register(char *err, size_t errlen);
void ns_thread_unregister(void);
int ns_port_by_name(const char *name, uint16_t *port);
int ns_port_valid(uint16_t port);
int ns_dev_info(uint16_t port, struct ns_devinfo *out, char *err, size_t errlen);
int ns_port_configure(uint16_t port, struct ns_portconf *c, char *err, size_t errlen);
int ns_port_start(uint16_t port, struct ns_portconf *c, uintptr_t *pools, char *err, size_t errlen);
int ns_port_stop_close(uint16_t port);
int ns_port_allmulticast(uint16_t port);
struct rte_mempool *ns_pool_create(const char *name, unsigned n, unsigned cache, uint16_t dataroom, int socket,
				   uint32_t table, struct ns_objinfo *out, char *err, size_t errlen);
unsigned ns_pool_avail(struct rte_mempool *mp);
void ns_pool_free(struct rte_mempool *mp);
int ns_rss_get(uint16_t port, uint8_t *key, uint8_t *key_len, uint64_t *hf);
int ns_reta_update(uint16_t port, const uint16_t *reta, uint16_t size);
int ns_reta_query(uint16_t port, uint16_t *reta, uint16_t size);
int ns_stats(uint16_t port, uint64_t *out);
int ns_xstats(uint16_t port, char *names, uint64_t *values, int n);
int ns_link(uint16_t port, int *up, uint32_t *speed);
int ns_lcore_id(void);

// Constants Go needs from DPDK's macros, in this order.
enum {
	NS_C_RSS_IPV4,
	NS_C_RSS_TCPV4,
	NS_C_RSS_UDPV4,
	NS_C_RSS_IPV6,
	NS_C_RSS_TCPV6,
	NS_C_RSS_UDPV6,
	NS_C_TX_IPV4_CKSUM,
	NS_C_TX_UDP_CKSUM,
	NS_C_TX_TCP_CKSUM,
	NS_C_RX_IPV4_CKSUM,
	NS_C_RX_UDP_CKSUM,
	NS_C_RX_TCP_CKSUM,
	NS_C_HEADROOM,
	NS_C_MAX_LCORE,
	NS_C_XSTATS_NAME_SIZE,
	NS_C_TX_TCP_TSO,
	NS_C_TX_MULTI_SEGS,
	NS_C_RX_TCP_LRO,
	NS_C_RX_SCATTER,
	NS_C_NUM
};
void ns_consts(uint64_t *out);

/* Free mbufs in a mempool, per-lcore caches included. */
static inline unsigned ns_avail(struct rte_mempool *mp)
{
	return rte_mempool_avail_count(mp);
}

#endif
