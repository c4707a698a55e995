/*
 * lru.h - the doubly linked recency list the caches share (devcache.c,
 * tilecache.c): an entry embeds a struct lru_node as its FIRST member, so
 * a node pointer converts back to its entry with a cast. The head is the
 * most recently used, the tail the next to evict.
 */
#ifndef CUSTODY_LRU_H
#define CUSTODY_LRU_H

#include <stddef.h>

struct lru_node {
	struct lru_node *prev, *next;
};

struct lru {
	struct lru_node *head, *tail;
};

/* Takes n out of l (n must be on it). */
static inline void lru_unlink(struct lru *l, struct lru_node *n)
{
	if (n->prev != NULL)
		n->prev->next = n->next;
	else
		l->head = n->next;
	if (n->next != NULL)
		n->next->prev = n->prev;
	else
		l->tail = n->prev;
	n->prev = n->next = NULL;
}

/* Puts n (on no list) at the head: the most recently used. */
static inline void lru_push_front(struct lru *l, struct lru_node *n)
{
	n->prev = NULL;
	n->next = l->head;
	if (l->head != NULL)
		l->head->prev = n;
	l->head = n;
	if (l->tail == NULL)
		l->tail = n;
}

/* Puts n (on no list) at the tail: the first to be evicted. */
static inline void lru_push_back(struct lru *l, struct lru_node *n)
{
	n->next = NULL;
	n->prev = l->tail;
	if (l->tail != NULL)
		l->tail->next = n;
	l->tail = n;
	if (l->head == NULL)
		l->head = n;
}

/* Moves n (on l) to the head. */
static inline void lru_touch(struct lru *l, struct lru_node *n)
{
	lru_unlink(l, n);
	lru_push_front(l, n);
}

#endif
