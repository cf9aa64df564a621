package mailer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	gomail "github.com/wneessen/go-mail"
)

// fileTransport writes each mail as <message-id local part>.eml to a
// directory. The same effect key gives the same file name, so a resend
// replaces the file instead of adding a second one.
type fileTransport struct {
	dir string
}

func newFileTransport(dir string) (*fileTransport, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	return &fileTransport{dir: dir}, nil
}

// Send writes msg to a temporary file and renames it into place, so a
// reader of the outbox never sees half a mail.
func (t *fileTransport) Send(ctx context.Context, msg *gomail.Msg) error {
	if err := ctx.Err(); err != nil {
		return &Error{Class: Temporary, Op: "write", Reply: err.Error(), err: err}
	}
	id := strings.Trim(msg.GetMessageID(), "<>")
	if at := strings.IndexByte(id, '@'); at > 0 {
		id = id[:at]
	}
	if id == "" || strings.ContainsAny(id, `/\.`) {
		return &Error{Class: Permanent, Op: "write", Reply: "message has no usable Message-ID"}
	}

	tmp, err := os.CreateTemp(t.dir, ".tmp-*.eml")
	if err != nil {
		return &Error{Class: Temporary, Op: "write", Reply: err.Error(), err: err}
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := msg.WriteTo(tmp); err != nil {
		_ = tmp.Close()
		return &Error{Class: Temporary, Op: "write", Reply: err.Error(), err: err}
	}
	if err := tmp.Close(); err != nil {
		return &Error{Class: Temporary, Op: "write", Reply: err.Error(), err: err}
	}
	if err := os.Rename(tmp.Name(), filepath.Join(t.dir, id+".eml")); err != nil {
		return &Error{Class: Temporary, Op: "write", Reply: err.Error(), err: err}
	}
	return nil
}

func (t *fileTransport) Close() error { return nil }
