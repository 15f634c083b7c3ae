// The loop's mailbox: how work started on other threads (task continuations,
// pushes, broadcasts) reaches the loop that owns the connections, without a
// lock. Producers push onto a Treiber stack with one compare-and-swap; the
// loop takes the whole stack with one exchange and reverses it, so there is
// no ABA problem (nodes are never popped one by one) and each producer's items
// arrive in the order it posted them.
#include "shd_internal.h"

#include <stdlib.h>

int shd_loop_post(shd_loop_t *loop, void *item, int bounded) {
    size_t waiting = __atomic_add_fetch(&loop->inbox_count, 1, __ATOMIC_RELAXED);
    if (bounded && waiting > loop->opt.max_posted) {
        __atomic_sub_fetch(&loop->inbox_count, 1, __ATOMIC_RELAXED);
        __atomic_add_fetch(&loop->stats.post_refused, 1, __ATOMIC_RELAXED);
        return SHD_EFULL;
    }
    shd_post_t *node = malloc(sizeof(*node));
    if (node == NULL) {
        __atomic_sub_fetch(&loop->inbox_count, 1, __ATOMIC_RELAXED);
        return SHD_ENOMEM;
    }
    node->item = item;
    shd_post_t *head = __atomic_load_n(&loop->inbox, __ATOMIC_RELAXED);
    do {
        node->next = head;
    } while (!__atomic_compare_exchange_n(&loop->inbox, &head, node, 1, __ATOMIC_RELEASE, __ATOMIC_RELAXED));
    // Only the post that finds the stack empty wakes the loop: the others
    // know a drain is already due, which saves an eventfd write per item.
    if (head == NULL) uv_async_send(&loop->wake);
    return SHD_OK;
}

void shd__mailbox_drain(shd_loop_t *loop) {
    // Items posted while these run (by on_post itself, say) find the stack
    // empty, wake the loop again and are handled in a later pass.
    shd_post_t *taken = __atomic_exchange_n(&loop->inbox, NULL, __ATOMIC_ACQUIRE);
    if (taken == NULL) return;
    shd_post_t *ordered = NULL;
    size_t n = 0;
    while (taken != NULL) {
        shd_post_t *next = taken->next;
        taken->next = ordered;
        ordered = taken;
        taken = next;
        n++;
    }
    __atomic_sub_fetch(&loop->inbox_count, n, __ATOMIC_RELAXED);
    __atomic_add_fetch(&loop->stats.posted, n, __ATOMIC_RELAXED);
    while (ordered != NULL) {
        shd_post_t *next = ordered->next;
        void *item = ordered->item;
        free(ordered);
        loop->cb.on_post(loop->ctx, item);
        ordered = next;
    }
}

// Delayed items: a timer each, freed when it fires. Rare (a kick after a
// reply, say), so a timer per item is simpler than a wheel.
struct shd_delayed {
    uv_timer_t timer;
    void *item;
    struct shd_delayed *prev, *next;  // the loop's pending delayed items
};

static void free_delayed(uv_handle_t *handle) { free(handle->data); }

// Unlinks and closes the timer, then delivers the item.
static void fire(shd_loop_t *loop, shd_delayed_t *d) {
    if (d->prev) d->prev->next = d->next;
    else loop->delayed = d->next;
    if (d->next) d->next->prev = d->prev;
    void *item = d->item;
    uv_close((uv_handle_t *)&d->timer, free_delayed);
    loop->cb.on_post(loop->ctx, item);
}

static void on_delayed(uv_timer_t *timer) { fire(timer->loop->data, timer->data); }

void shd__delayed_fire_all(shd_loop_t *loop) {
    while (loop->delayed != NULL) fire(loop, loop->delayed);
}

int shd_loop_post_after(shd_loop_t *loop, uint32_t ms, void *item) {
    shd_delayed_t *d = malloc(sizeof(*d));
    if (d == NULL) return SHD_ENOMEM;
    uv_timer_init(&loop->uv, &d->timer);
    d->timer.data = d;
    d->item = item;
    d->prev = NULL;
    d->next = loop->delayed;
    if (loop->delayed) loop->delayed->prev = d;
    loop->delayed = d;
    uv_timer_start(&d->timer, on_delayed, ms, 0);
    return SHD_OK;
}
