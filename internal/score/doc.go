// Package score turns probe results into the answer VCS acts on: online or offline, with a
// confidence, and a reason people can read.
//
// It is pure: no I/O, no goroutines, no clock (the caller passes every time), no randomness.
// Once a Target exists, recording a result and reading the decision never allocate.
//
// # Targets, checks and gates
//
// A Target is one monitored service, such as the Axigen instance behind one virtual IP. It
// has checks and gates:
//
//   - A check is a protocol probe ("smtp", "imap", "webmail" …). Each result is an Outcome:
//     OK scores 1, Degraded 0.5 (it worked, but slowly or with a certificate near expiry —
//     the caller decides), Failed 0. A check's health is the mean score of its last Window
//     results; a check with no result yet has no health. A check has a weight, and may be
//     critical: the service is useless without it.
//   - A gate is a local fact ("vip", "process", "storage"): it passes or fails, with a
//     detail for people. Gates are this node's truth — VIP not plumbed here, Axigen not
//     running here — so a failed gate overrides whatever the checks say.
//
// The target's confidence is the weighted mean health of the checks that have results.
//
// # Updates
//
// An update is one call of Target.ObserveCheck or Target.ObserveGate. After every update
// the state machine judges the facts afresh. The update is good when every check has a
// result, every gate has been observed and its last observation passed, the last result of
// every critical check succeeded (OK or Degraded), and the confidence is at least
// OfflineBelow. SetMaintenance and Target.Reconfigure are not updates.
//
// Three counts run "in a row": a check's failures and successes count its own results; the
// low-confidence count counts check results (of any check) while the confidence stays
// below OfflineBelow — a gate observation neither adds to it nor resets it, as it cannot
// change the confidence; the rise count counts good updates.
//
// # States
//
// A target starts in Starting: it has no verdict yet, reports code 100 and the monitor shim
// runs its own direct check instead. It leaves Starting
//
//   - for Offline as soon as any rule below demands Offline, even before everything has been
//     observed (a failed gate takes it offline at once; it is never online with a failed
//     gate);
//   - for Online at the first good update, which needs every check and gate observed.
//
// While some critical check's last result failed (fewer than Fall times in a row) or the
// confidence is low (for fewer than Fall rounds), a starting target stays Starting: going
// online would report a failing service as up, going offline would turn one lost probe
// after a daemon restart into a failover.
//
// A target goes Offline, from any state but Maintenance, at the update where
//
//   - any gate's last observation failed ("vip: 10.0.0.5 is not on a local interface");
//   - a critical check has failed Fall times in a row ("imap: 7 consecutive failures
//     (timeout in banner)"). The check is then down until it has succeeded Rise times in
//     a row, and the target is offline while any check is down ("recovering: imap 1 of 2
//     successes");
//   - the confidence has been below OfflineBelow for Fall rounds of check results, a round
//     being as many results as the target has checks ("confidence 0.42 below 0.50 for 42
//     check results" with six checks).
//
// Failures of non-critical checks alone never take a target offline while the confidence
// stays at or above OfflineBelow: a dead webmail makes the confidence, not the verdict.
//
// An offline target comes back Online at the update that completes Rise good updates in a
// row, no check being down. A bad update restarts the count, and a gate that recovers does
// not skip it: the update that observes the gate passing is the first good one.
//
// Maintenance is set and cleared by the operator through SetMaintenance. In maintenance the
// history goes on, but the state does not move. It reports code 200 if the target's config
// has IntentionalOffline, else 100. Leaving maintenance re-enters the machine at Offline, so
// a healthy target (Rise good updates in a row, counted during maintenance) is online at
// once and a broken one stays offline.
//
// Every Decision carries a Reason for its state, and the last Transition (from, to, when,
// why), so the daemon can log and count changes.
//
// # Codes
//
// Code maps the state onto the VCS monitor contract: Offline and Starting 100, Online 101
// to 110 (100 + ⌈10 × confidence⌉: 0.9 gives 109, 0.91 gives 110, 0 gives 101 — an online
// target never reports offline through its confidence), Maintenance 200 or 100.
//
// # Defaults and the arithmetic behind Fall
//
// Window 5, Rise 2, Fall 7, OfflineBelow 0.5 (DefaultConfig).
//
// Fall trades false failovers against detection time. The yardstick is a healthy Axigen
// node with six checks (smtp, imap, pop3 critical; webmail, webadmin, cli not) that each
// fail 10 % of the time, independently — far worse than a healthy server, which is the
// point. A critical check goes down on a run of Fall failures; in n results the expected
// number of such runs is p^F + (n−F)·(1−p)·p^F. Over 10,000 rounds (30,000 critical
// results):
//
//	Fall  expected false offlines   P(at least one)
//	3     27                        1
//	4     2.7                       0.93
//	5     0.27                      0.24
//	6     0.027                     0.027
//	7     0.0027                    0.0027
//
// Measured with the implementation over 1,000 such runs (10 million rounds): 0.244, 0.025
// and 0.002 false offlines per run for Fall 5, 6 and 7, every one of them a critical
// streak, as the formula says.
//
// Fall 6 would leave one run in 37 of that test with a false failover, and a node probing
// its critical checks every 10 s at that failure rate (25,920 critical results a day) one
// false failover every 43 days; Fall 7 makes both ten times rarer (one in 370 runs, one in
// 430 days). Real failures are burstier than independent draws, which favours the longer
// run too.
//
// The cost is detection time. After a failure the daemon re-probes after about 1 s, so
// confirming an outage takes about Fall × (probe time + 1 s): a refused connection (Axigen
// crashed) about 7 s with Fall 7 — and the process gate usually sees a crash first — and a
// hang with a 5 s probe timeout about 42 s instead of 36 s with Fall 6. Both are well inside
// VCS's 60 s MonitorInterval, which dominates how soon VCS acts anyway. TestSimulation* check
// these figures against the implementation.
//
// The low-confidence rule counts rounds of results, not updates, to keep its false offlines
// below the critical rule's. The confidence averages each check's last Window results, so
// consecutive updates are not independent evidence: one unlucky stretch keeps the
// confidence low for several rounds, and Fall updates are less than one round (six checks
// and three gates make nine updates a round). Counting updates, the same 1,000 runs with Fall 7 saw 12 false offlines, 10 of them
// by low confidence — four times the critical rule's rate; counting rounds, none. (The first
// design said "fall cycles"; a round is a cycle that needs no scheduler to define it:
// docs/DESIGN-NOTES.md, "low-confidence rule".) The rule
// is the slow, broad one — it catches a service that is mostly broken while no critical
// check fails outright; gates and critical checks are the fast ones.
//
// Rise 2: coming back needs two good updates in a row, and two successes in a row of a
// critical check that went down — enough that one lucky probe does not end an outage, short
// enough not to delay a real recovery.
package score
