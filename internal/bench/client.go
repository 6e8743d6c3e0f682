package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// Client speaks sciflow's HTTP API the way an API client does (API.md): a
// bearer token from POST /api/v1/session, JSON bodies.
type Client struct {
	http *http.Client
}

// NewClient makes a client that keeps up to conns connections to each
// server alive, so that every concurrent caller reuses its own connection
// instead of opening one per request.
func NewClient(conns int) *Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 0 // no limit across servers
	t.MaxIdleConnsPerHost = conns
	return &Client{http: &http.Client{Transport: t, Timeout: time.Minute}}
}

// Close drops the connections kept alive.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// SignIn signs username in on the server at baseURL and returns the token.
func (c *Client) SignIn(ctx context.Context, baseURL, username, password string) (string, error) {
	status, body, err := c.post(ctx, baseURL+"/api/v1/session", "", map[string]string{"username": username, "password": password})
	if err != nil {
		return "", fmt.Errorf("sign in %s: %w", username, err)
	}
	if status != http.StatusOK {
		return "", fmt.Errorf("sign in %s: %d %s", username, status, snippet(body))
	}
	var answer struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &answer); err != nil || answer.Token == "" {
		return "", fmt.Errorf("sign in %s: no token in %s", username, snippet(body))
	}
	return answer.Token, nil
}

// Fire posts event on the application as the token's holder and returns
// the status and body of the answer; err is only for a request that got
// no answer.
func (c *Client) Fire(ctx context.Context, baseURL, token, appID, event string) (int, []byte, error) {
	status, body, err := c.post(ctx, baseURL+"/api/v1/applications/"+appID+"/events", token, map[string]string{"event": event})
	if err != nil {
		return 0, nil, fmt.Errorf("fire %s on %s: %w", event, appID, err)
	}
	return status, body, nil
}

func (c *Client) post(ctx context.Context, url, token string, body any) (int, []byte, error) {
	raw, err := json.Marshal(body)
	if err != nil {
		return 0, nil, fmt.Errorf("encode request: %w", err)
	}
	return c.do(ctx, http.MethodPost, url, token, bytes.NewReader(raw))
}

// get fetches url with the bearer token (none: anonymous).
func (c *Client) get(ctx context.Context, url, token string) (int, []byte, error) {
	return c.do(ctx, http.MethodGet, url, token, nil)
}

// do sends one request with the bearer token (none: anonymous), a JSON body
// when there is one, and reads the whole answer.
func (c *Client) do(ctx context.Context, method, url, token string, body io.Reader) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return 0, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	// Read to the end, as a client that uses the answer does, and so that
	// the connection can be used again.
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, nil, fmt.Errorf("read answer: %w", err)
	}
	return resp.StatusCode, answer, nil
}

// snippet is the start of an answer, on one line, for an error message.
func snippet(body []byte) string {
	s := strings.Join(strings.Fields(string(body)), " ")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
