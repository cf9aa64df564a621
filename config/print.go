package config

import (
	"go.yaml.in/yaml/v3"

	"github.com/shopq/shopq/internal/redisconn"
)

const redacted = "xxxxx"

// Redacted returns a copy with every secret replaced, for printing and logs.
func (c Config) Redacted() Config {
	c.Redis.URL = redisconn.Redact(c.Redis.URL)
	if c.Mail.SMTP.Password != "" {
		c.Mail.SMTP.Password = redacted
	}
	if c.UI.Password != "" {
		c.UI.Password = redacted
	}
	return c
}

// YAML renders the configuration with secrets redacted; durations print
// with their unit ("25s").
func (c Config) YAML() (string, error) {
	out, err := yaml.Marshal(c.Redacted())
	return string(out), err
}
