/* Stand-in for rpmsg-lite's llist.h. */
#ifndef STANDIN_LLIST_H
#define STANDIN_LLIST_H
struct llist {
	void *data;
	struct llist *next, *prev;
};
void add_to_list(struct llist **head, struct llist *node);
#endif
