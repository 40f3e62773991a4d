package execengine

import (
	"errors"
	"testing"
	"time"
)

func TestConfigValidateRequest(t *testing.T) {
	cfg := DefaultConfig()
	tests := []struct {
		name    string
		req     Request
		wantErr error
	}{
		{"shell", Request{Command: Shell{Command: "echo hi"}}, nil},
		{"exec", Request{Command: Exec{Program: "true"}}, nil},
		{"script elsewhere", Request{Command: Script{Path: "/only/on/the/worker.sh"}}, nil},
		{"missing dir is the runner's concern", Request{Command: Exec{Program: "true"}, WorkingDir: "/no/such/dir"}, nil},
		{"aws", Request{Command: AWSCLI{Service: "s3", Operation: "ls"}}, nil},
		{"nil command", Request{}, ErrInvalidRequest},
		{"empty shell", Request{Command: Shell{Command: "  "}}, ErrInvalidRequest},
		{"empty program", Request{Command: Exec{}}, ErrInvalidRequest},
		{"empty script", Request{Command: &Script{}}, ErrInvalidRequest},
		{"nil script pointer", Request{Command: (*Script)(nil)}, ErrInvalidRequest},
		{"aws without operation", Request{Command: AWSCLI{Service: "s3"}}, ErrInvalidRequest},
		{"negative timeout", Request{Command: Exec{Program: "true"}, Timeout: -time.Second}, ErrInvalidRequest},
		{"timeout too large", Request{Command: Exec{Program: "true"}, Timeout: 2 * time.Hour}, ErrTimeoutTooLarge},
		{"NUL in arg", Request{Command: Exec{Program: "echo", Args: []string{"a\x00b"}}}, ErrInvalidRequest},
		{"bad env name", Request{Command: Exec{Program: "true"}, Env: map[string]string{"A=B": "x"}}, ErrInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := cfg.ValidateRequest(tt.req)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("ValidateRequest(%+v) = %v; want %v", tt.req, err, tt.wantErr)
			}
			if tt.wantErr != nil && !errors.Is(err, ErrInvalidRequest) {
				t.Fatalf("ValidateRequest(%+v) = %v; want it to match ErrInvalidRequest", tt.req, err)
			}
		})
	}
}
