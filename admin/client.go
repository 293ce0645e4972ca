package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// ErrNotAvailable is returned by Client methods when the instance does not
// provide the endpoint (501), for example an older build.
var ErrNotAvailable = errors.New("not available from this instance")

// Client reads a running instance's admin API; `switchyard status` uses it.
// It is safe for concurrent use.
type Client struct {
	base  string // scheme://host:port, no trailing slash
	token string
	http  *http.Client
}

// NewClient returns a client for the admin API at addr: host:port (plain
// HTTP) or a URL such as https://proxy.example:9090. token may be empty.
func NewClient(addr, token string) (*Client, error) {
	base := addr
	if !strings.Contains(addr, "://") {
		base = "http://" + addr
	}
	u, err := url.Parse(base)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return nil, fmt.Errorf("admin address %q: write host:port, e.g. 127.0.0.1:9090", addr)
	}
	return &Client{
		base:  strings.TrimSuffix(u.String(), "/"),
		token: token,
		http:  &http.Client{Timeout: 10 * time.Second},
	}, nil
}

// Topology fetches GET /topology.
func (c *Client) Topology(ctx context.Context) (TopologyView, error) {
	var v TopologyView
	err := c.get(ctx, "/topology", &v)
	return v, err
}

// Digests fetches GET /digests?limit=n.
func (c *Client) Digests(ctx context.Context, n int) ([]DigestStat, error) {
	var v DigestsResponse
	err := c.get(ctx, "/digests?limit="+strconv.Itoa(n), &v)
	return v.Digests, err
}

func (c *Client) get(ctx context.Context, path string, into any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("admin API at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("admin API %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		var e ErrorResponse
		msg := strings.TrimSpace(string(body))
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			msg = e.Error
		}
		switch resp.StatusCode {
		case http.StatusNotImplemented:
			return fmt.Errorf("admin API %s: %w", path, ErrNotAvailable)
		case http.StatusUnauthorized:
			return fmt.Errorf("admin API %s refused the token (%s); pass --token or set SWITCHYARD_ADMIN_TOKEN to the admin_token of the config", path, msg)
		}
		return fmt.Errorf("admin API %s: %s: %s", path, resp.Status, msg)
	}
	if err := json.Unmarshal(body, into); err != nil {
		return fmt.Errorf("admin API %s: decode: %w", path, err)
	}
	return nil
}

// Switchover calls POST /switchover?target=name and returns the answer,
// whatever its status: a failed switchover's body says how far it got. The
// error is non-nil when the primary did not change.
func (c *Client) Switchover(ctx context.Context, target string) (SwitchoverResponse, error) {
	var v SwitchoverResponse
	code, err := c.post(ctx, "/switchover?target="+url.QueryEscape(target), &v)
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("switchover to %s: %s (HTTP %d)", target, v.Error, code)
	}
	return v, err
}

// SetDrained calls POST /backends/NAME/drain (or undrain).
func (c *Client) SetDrained(ctx context.Context, name string, drained bool) error {
	action := "undrain"
	if drained {
		action = "drain"
	}
	return c.postOK(ctx, "/backends/"+url.PathEscape(name)+"/"+action)
}

// ResetCooldown calls POST /failover/reset-cooldown.
func (c *Client) ResetCooldown(ctx context.Context) error {
	return c.postOK(ctx, "/failover/reset-cooldown")
}

// postOK posts and turns any status but 200 into an error with the
// server's message.
func (c *Client) postOK(ctx context.Context, path string) error {
	var v ErrorResponse
	code, err := c.post(ctx, path, &v)
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("admin API %s: HTTP %d: %s", path, code, v.Error)
	}
	return err
}

// post sends an empty POST and decodes the JSON answer into into, for any
// status but 401 and 501, which become errors.
func (c *Client) post(ctx context.Context, path string, into any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, nil)
	if err != nil {
		return 0, err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	// A switchover may hold writes for failover.max_catchup_wait and
	// more: no client-side timeout beyond ctx.
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		return 0, fmt.Errorf("admin API at %s: %w", c.base, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, fmt.Errorf("admin API %s: %w", path, err)
	}
	switch resp.StatusCode {
	case http.StatusNotImplemented:
		return resp.StatusCode, fmt.Errorf("admin API %s: %w", path, ErrNotAvailable)
	case http.StatusUnauthorized:
		return resp.StatusCode, fmt.Errorf("admin API %s refused the token; pass --token or set SWITCHYARD_ADMIN_TOKEN to the admin_token of the config", path)
	}
	if err := json.Unmarshal(body, into); err != nil {
		return resp.StatusCode, fmt.Errorf("admin API %s: HTTP %d: %s", path, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return resp.StatusCode, nil
}
