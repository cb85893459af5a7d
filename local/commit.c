/*
 * commit - group commit of the delivery agent (DESIGN §2 "Durability is
 * amortised").
 *
 * One local process serves several qmgr connections at once (main.c).
 * A whole request is not answered at once: request.c writes its files
 * into the batch of the current group (lib/maildir maildir_write(): in
 * tmp/, writeback started, nothing fsynced) and the request waits here.
 * When the event loop has nothing more to hand over at once,
 * local_commit_run() makes the whole batch durable in one pass -- each
 * file fsynced (their bytes already on the way), linked into new/, then
 * each distinct new/ folder fsynced once for every request of the batch
 * -- and only then finishes every waiting request and writes its reply.
 * So K requests into one mailbox cost K file fsyncs and one folder
 * fsync, and the file fsyncs overlap their writes, instead of 2K fsyncs
 * one after the other; rule 3 of DESIGN §2 holds for each of them.
 *
 * A connection that goes away while its request waits (a timeout,
 * master gone) does not take the request with it: its files are synced
 * and logged with the others, and only its reply is dropped (qmgr
 * defers what it did not hear about: at most a duplicate).
 *
 * Never: answer a request before the sync of its batch, or keep a
 * request across two batches.
 */
#include <stdlib.h>

#include "lib/log.h"
#include "local/local.h"

struct waiter {
	struct local_conn *conn; /* borrowed; NULL once it is gone */
	struct local_req *req;
};

struct local_commit {
	struct local_ctx *ctx; /* borrowed */
	struct maildir_batch *b;
	struct waiter *w;
	size_t nw, cap;
};

struct local_commit *
local_commit_new(struct local_ctx *ctx)
{
	struct local_commit *g = x_calloc(1, sizeof(*g));

	g->ctx = ctx;
	g->b = maildir_batch_new(ctx->store);
	return g;
}

void
local_commit_free(struct local_commit **gp)
{
	struct local_commit *g = *gp;

	if (g == NULL)
		return;
	FCT_ASSERT(g->nw == 0);
	maildir_batch_free(&g->b);
	free(g->w);
	x_free(gp);
}

struct maildir_batch *
local_commit_batch(struct local_commit *g)
{
	return g->b;
}

size_t
local_commit_waiting(const struct local_commit *g)
{
	return g->nw;
}

size_t
local_commit_add(
    struct local_commit *g, struct local_conn *c, struct local_req *r)
{
	if (g->nw == g->cap) {
		g->cap = g->cap ? 2 * g->cap : 16;
		g->w = x_realloc(g->w, g->cap * sizeof(*g->w));
	}
	g->w[g->nw] = (struct waiter){c, r};
	return g->nw++;
}

void
local_commit_forget(struct local_commit *g, size_t slot)
{
	FCT_ASSERT(slot < g->nw);
	g->w[slot].conn = NULL;
}

void
local_commit_run(struct local_commit *g, local_answered_fn *answered)
{
	struct maildir_batch *b = g->b;
	struct waiter *w = g->w;
	size_t nw = g->nw;
	struct str *why, *out;

	if (nw == 0)
		return;
	/* Requests handed over from here on go into the next batch. */
	g->b = maildir_batch_new(g->ctx->store);
	g->w = NULL;
	g->nw = g->cap = 0;

	why = str_new(4096);
	if (maildir_batch_sync(b, why) > 0)
		log_warn("group commit of %zu requests: %s", nw, str_c(why));
	log_debug("group commit: %zu requests, %zu files", nw,
	    maildir_batch_count(b));
	out = str_new(DELIVER_MSG_MAX);
	for (size_t i = 0; i < nw; i++) {
		int rc;
		str_clear(out);
		rc = local_request_finish(w[i].req, b, out);
		local_request_free(&w[i].req);
		if (w[i].conn == NULL)
			continue; /* gone: logged, not answered */
		answered(local_conn_owner(w[i].conn),
		    local_conn_answer(w[i].conn, rc < 0 ? NULL : out));
	}
	str_free(&out);
	str_free(&why);
	free(w);
	maildir_batch_free(&b);
}
