// Package mailer sends shopq's customer and operator mail through go-mail
// (github.com/wneessen/go-mail): templates embedded in the binary and
// overridable from a directory, an SMTP transport that reuses a small pool
// of sessions (or a file transport writing .eml files), a Redis-wide rate
// limit per transport, and a once-per-effect-key record.
//
// The handler of mail:send runs the steps in order: Claim (check the
// effect record, take a lease), Allow (rate limit), Render and Compose,
// Send, Record. Send returns *Error with a Class: Temporary failures (4xx,
// timeouts, dropped connections) are retried, Permanent ones (5xx, invalid
// addresses, rejected credentials, a server without STARTTLS under
// tls: mandatory) are not.
//
// Every mail's Message-ID is derived from its effect key, so the one
// resend that can happen (a crash between the server's acceptance and the
// record) carries the same Message-ID as the first copy.
package mailer
