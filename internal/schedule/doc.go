// Package schedule enqueues shopq's periodic jobs (the `schedules` entries
// of the configuration) exactly once per slot, however many scheduler
// replicas run.
//
// # Slots
//
// A slot is an instant at which an entry is due. Slots are computed from the
// wall clock, never from a process's start, so every replica agrees on them:
//
//   - five-field cron specs and descriptors (@daily, @hourly, ...) are parsed
//     by robfig/cron/v3 and evaluated in the entry's time zone (UTC when
//     time_zone is empty);
//   - "@every <duration>" fires at multiples of the duration since the Unix
//     epoch: "@every 5s" at :00, :05, :10, ...; "@every 24h" at 00:00 UTC. The
//     time zone does not apply to @every (use a cron spec for local times).
//     robfig rounds the duration to whole seconds, minimum one second.
//
// # Exactly once
//
// Before enqueueing slot S of entry N a scheduler claims the Redis key
// {prefix}sched:N:<S as unix seconds> with SET NX and a TTL; only the
// replica that wins the claim enqueues, and it does so with the asynq task ID
// "sched:N:<S>", so a claim that expired or was lost cannot produce a second
// task while the first one is still known to asynq (asynq answers
// ErrTaskIDConflict, which is logged at debug level, not as an error). An
// enqueue that fails releases the claim, so the slot is retried (by this or
// another replica) for as long as it is within the catch-up window.
//
// An entry never waits for its previous run: a run that failed, is retrying
// or was archived does not stop the next slots from being enqueued.
//
// # Missed slots
//
// A slot runs when a scheduler sees it at most CatchUp late (Options.CatchUp,
// default one minute, never less than ten seconds). When a scheduler starts,
// it looks back CatchUp for the latest slot: a slot missed during a restart, a
// deploy or a replica failover therefore runs once, late; several missed slots
// are coalesced into one run (the latest). Slots older than CatchUp are
// skipped: a nightly job is not started at some random hour after a long
// outage; run it by hand with `enqueue` when needed. A schedule added or
// changed while the scheduler runs starts with its next slot.
//
// # Daylight-saving time
//
// Cron specs follow robfig/cron's semantics in the entry's zone:
//
//   - spring forward (e.g. Europe/Berlin, last Sunday of March, 02:00 becomes
//     03:00): a time inside the skipped hour ("30 2 * * *") does not occur and
//     does not run that day; specs that match every hour skip the missing hour;
//   - fall back (last Sunday of October, 03:00 becomes 02:00 again): a time
//     inside the repeated hour ("30 2 * * *") occurs twice and runs twice, once
//     per real instant (they are distinct slots);
//   - times outside 02:00-03:00 local run once a day as usual; @daily runs at
//     local midnight, which no European zone skips or repeats.
//
// Schedule daily jobs outside the switch hour, or in UTC, when a skipped or
// doubled run matters.
//
// # Reloading and broken entries
//
// The Loader is called every ReloadInterval, so edits to the configuration
// file apply without a restart. Each entry is checked on its own: a bad cron
// spec, an unknown time zone, a task type outside the wire contract, or a
// payload its type rejects is logged once (warn), counted in
// shopq_schedule_errors_total and flagged by shopq_schedule_entry_invalid,
// and skipped; the other entries keep running. When the loader itself fails,
// the previous entries stay in force.
package schedule
