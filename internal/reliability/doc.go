// Package reliability holds end-to-end reliability tests of the ledger
// that cut across packages: tampering with the stored Badger data is found
// by the audit, and a rolled-back or forked log is detected by a client
// holding a later checkpoint, over a real server and the real client.
//
// It has no non-test code.
package reliability
