package sync

// The outbox_notify trigger (sales migration 3) NOTIFYs NotifyChannel when
// an outbox row commits, so the relay wakes at once instead of at its next
// idle poll (Config.Poll, 100 ms). The relay LISTENs whether or not the
// trigger exists. One NOTIFY per statement: a bulk insert wakes it once.
