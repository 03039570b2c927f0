/* Stand-in for rpmsg-lite's llist.c. */
#include "rpmsg_lite.h"

void add_to_list(struct llist **head, struct llist *node)
{
	node->next = *head;
	node->prev = RL_NULL;
	*head = node;
}
