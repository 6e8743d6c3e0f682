package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"

	"github.com/sciflow/sciflow/internal/bench"
)

// download answers a GET as user: status, headers and body.
func (s *site) download(user, path string) (int, http.Header, []byte) {
	s.t.Helper()
	req, err := http.NewRequest("GET", s.url+path, nil)
	require.NoError(s.t, err)
	req.Header.Set("Authorization", "Bearer "+s.token(user))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(s.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(s.t, err)
	return resp.StatusCode, resp.Header, body
}

type auditPageItem struct {
	Seq     int64
	Kind    string
	Comment string
	Data    map[string]any
}

// auditPages reads every page of GET /api/v1/audit with the query given.
func (s *site) auditPages(user, query string) []auditPageItem {
	s.t.Helper()
	var all []auditPageItem
	cursor := ""
	for {
		var page struct {
			Items      []auditPageItem
			NextCursor *string `json:"next_cursor"`
		}
		require.Equal(s.t, 200, s.call(user, "GET", "/api/v1/audit?limit=7&"+query+cursor, nil, &page))
		all = append(all, page.Items...)
		if page.NextCursor == nil {
			return all
		}
		cursor = "&cursor=" + *page.NextCursor
	}
}

// The export is the list in a file: the same entries for the same filters
// (q included), CSV with a byte-order mark and XLSX that opens, both
// redacted for administrators, and each export an entry of its own.
func TestAuditExportAndSearch(t *testing.T) {
	t.Parallel()
	s := newSite(t)
	app := s.submitProject("applicant")
	s.decideAs("unit", app.ID, map[string]any{"decision": "send_back", "comment": "请补充中试合同", "questions": []string{"中试场地？"}})

	// Search: the auditor finds the comment; an administrator, who may not
	// read it, does not find by it, but finds what they may read.
	found := s.auditPages("auditor", "q="+url.QueryEscape("中试合同"))
	require.NotEmpty(t, found)
	for _, e := range found {
		require.Contains(t, e.Comment+fmt.Sprint(e.Data), "中试合同")
	}
	require.Empty(t, s.auditPages("admin", "q="+url.QueryEscape("中试合同")))
	require.Empty(t, s.auditPages("admin", "q="+url.QueryEscape("中试场地")))
	logins := s.auditPages("admin", "q=127.0.0.1")
	require.NotEmpty(t, logins, "sign-ins record the address")
	for _, e := range logins {
		require.Equal(t, "login", e.Kind)
	}
	var e apiError
	require.Equal(t, 400, s.call("auditor", "GET", "/api/v1/audit?q="+strings.Repeat("长", 101), nil, &e))
	require.Contains(t, e.Error.Fields, "q")

	byApp := "application_id=" + app.ID
	listed := s.auditPages("auditor", byApp)
	require.NotEmpty(t, listed)

	// CSV: BOM, one header row (Chinese and English), a row per entry.
	code, h, body := s.download("auditor", "/api/v1/audit/export?format=csv&"+byApp)
	require.Equal(t, 200, code, "%s", body)
	require.Equal(t, "text/csv; charset=utf-8", h.Get("Content-Type"))
	require.Regexp(t, `^attachment; filename="sciflow-audit-\d{8}-\d{6}\.csv"; filename\*=UTF-8''`, h.Get("Content-Disposition"))
	require.True(t, bytes.HasPrefix(body, []byte("\xEF\xBB\xBF")), "UTF-8 byte-order mark")
	records, err := csv.NewReader(bytes.NewReader(body[3:])).ReadAll()
	require.NoError(t, err)
	require.Equal(t, "序号 seq", records[0][0])
	require.Equal(t, "时间（北京时间） at", records[0][1])
	require.Len(t, records, len(listed)+1)
	for i, e := range listed {
		require.Equal(t, fmt.Sprint(e.Seq), records[i+1][0], "the list's order")
		require.Regexp(t, `^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$`, records[i+1][1])
	}
	var sentBack []string
	for _, r := range records {
		if r[2] == "review.decision" && strings.Contains(r[11], "请补充中试合同") {
			sentBack = r
		}
	}
	require.NotNil(t, sentBack, "the auditor reads the reviewer's comment")
	require.Equal(t, []string{"unit", "unit"}, sentBack[3:5], "the actor's name and username")

	_, _, body = s.download("auditor", "/api/v1/audit/export?q="+url.QueryEscape("中试合同")+"&"+byApp)
	records, err = csv.NewReader(bytes.NewReader(body[3:])).ReadAll()
	require.NoError(t, err)
	require.Len(t, records, len(found)+1, "q applies to the export")

	// XLSX: two header rows, then the same entries; times are dates.
	code, h, body = s.download("auditor", "/api/v1/audit/export?format=xlsx&"+byApp)
	require.Equal(t, 200, code, "%s", body)
	require.Equal(t, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", h.Get("Content-Type"))
	require.Contains(t, h.Get("Content-Disposition"), `.xlsx"`)
	book, err := excelize.OpenReader(bytes.NewReader(body))
	require.NoError(t, err)
	defer book.Close()
	rows, err := book.GetRows("审计日志")
	require.NoError(t, err)
	require.Len(t, rows, len(listed)+2)
	require.Equal(t, []string{"序号", "seq"}, []string{rows[0][0], rows[1][0]})
	require.Equal(t, fmt.Sprint(listed[0].Seq), rows[2][0])
	at, err := book.GetCellValue("审计日志", "B3")
	require.NoError(t, err)
	require.Regexp(t, `^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$`, at, "a date cell, shown in China time")
	require.Contains(t, strings.Join(rows[len(rows)-1], " ")+strings.Join(rows[len(rows)-2], " "), "请补充中试合同")

	// Administrators' files are redacted like their list.
	for _, format := range []string{"csv", "xlsx"} {
		code, _, body := s.download("admin", "/api/v1/audit/export?format="+format+"&"+byApp)
		require.Equal(t, 200, code)
		text := string(body)
		if format == "xlsx" {
			book, err := excelize.OpenReader(bytes.NewReader(body))
			require.NoError(t, err)
			rows, err := book.GetRows("审计日志")
			require.NoError(t, err)
			require.Len(t, rows, len(listed)+2)
			text = fmt.Sprint(rows)
			book.Close()
		}
		require.NotContains(t, text, "请补充中试合同", format)
		require.NotContains(t, text, "中试场地", format)
	}

	require.Equal(t, 400, s.call("auditor", "GET", "/api/v1/audit/export?format=pdf", nil, &e))
	require.Contains(t, e.Error.Fields, "format")

	// Every export above is an entry: who, the format, the filters.
	var me struct{ ID string }
	require.Equal(t, 200, s.call("auditor", "GET", "/api/v1/me", nil, &me))
	var exports []auditPageItem
	for _, e := range s.auditPages("auditor", "actor="+me.ID) {
		if e.Kind == "audit.export" {
			exports = append(exports, e)
		}
	}
	require.Len(t, exports, 3)
	require.Equal(t, "xlsx", exports[2].Data["format"])
	require.Equal(t, map[string]any{"application_id": app.ID}, exports[2].Data["filters"])
	require.Equal(t, "中试合同", exports[1].Data["filters"].(map[string]any)["q"])
	s.requireIntactChain()
}

// auditExportSizes are the numbers of entries BenchmarkAuditExport exports.
var auditExportSizes = []int{10_000, 100_000, 300_000}

// BenchmarkAuditExport exports 10,000, 100,000 and 300,000 entries as CSV
// and as XLSX from a real `sciflow serve` process, each export from a
// server of its own, and reports the server's peak resident memory (VmHWM)
// before and after, and the most Go heap it saw in use (sampled through
// SCIFLOW_PPROF_ADDR every 20 ms): the export's memory does not grow with
// the number of entries. The time is the client's, from the request to the
// file's last byte.
// docs/BENCHMARKS.md ("Audit export") has the figures.
//
//	go run ./cmd/testpg -- go test -run '^$' -bench AuditExport -benchtime 1x ./cmd/sciflow
func BenchmarkAuditExport(b *testing.B) {
	s := newSite(b)
	bin := filepath.Join(b.TempDir(), "sciflow")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(b, err, "go build: %s", out)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	// Entries that look like the real thing (a reviewer's comment in
	// Chinese, the questions of a send back), one second apart from a day
	// long past; written directly, so their hashes are not a chain's, which
	// an export does not look at.
	start := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
	_, err = s.db.ExecContext(ctx, `
INSERT INTO audit_log (content, prev_hash, hash)
SELECT json_build_object('chain', a::text, 'chain_seq', 1, 'at_us', $1::bigint + i::bigint * 1000000, 'kind', 'transition',
    'actor_id', (SELECT id FROM users WHERE username = 'unit'), 'application_id', a, 'app_seq', 1,
    'workflow', 'project', 'workflow_version', 1, 'event', 'send_back', 'from', 'unit_review', 'to', 'draft',
    'comment', '第' || i || '号申请：请补充中试合同与近三年财务报表，专家意见见附件。',
    'data', json_build_object('questions', json_build_array('中试场地？', '合作单位？'), 'score', i % 100))::text,
    decode(md5(i::text), 'hex'), decode(md5(i::text) || md5(a::text), 'hex')
FROM generate_series(1, $2::int) i CROSS JOIN LATERAL (SELECT md5('bench ' || i)::uuid AS a) g`, start.UnixMicro(), auditExportSizes[len(auditExportSizes)-1])
	require.NoError(b, err)

	for _, format := range []string{"csv", "xlsx"} {
		for _, n := range auditExportSizes {
			b.Run(fmt.Sprintf("%s/%d", format, n), func(b *testing.B) {
				env := s.env()
				env["SCIFLOW_LOG_LEVEL"] = "warn"
				env["SCIFLOW_PPROF_ADDR"] = freeLoopback(b)
				srv, err := bench.StartServer(ctx, bench.ServerConfig{Binary: bin, Env: env})
				require.NoError(b, err)
				defer srv.Stop()
				// The first n of the synthetic entries.
				to := start.Add(time.Duration(n+1) * time.Second).Format(time.RFC3339)
				query := "/api/v1/audit/export?format=" + format + "&from=" + url.QueryEscape(start.Format(time.RFC3339)) + "&to=" + url.QueryEscape(to)
				get := func(path string) *http.Response {
					req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+path, nil)
					require.NoError(b, err)
					req.Header.Set("Authorization", "Bearer "+s.token("auditor"))
					resp, err := http.DefaultClient.Do(req)
					require.NoError(b, err)
					require.Equal(b, 200, resp.StatusCode)
					return resp
				}
				// Warm up: a page of the list, so that the baseline is a
				// server that has answered.
				resp := get("/api/v1/audit?limit=100")
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				base, err := srv.PeakRSS()
				require.NoError(b, err)
				file := filepath.Join(b.TempDir(), "export."+format)
				var size int64
				heap := sampleHeap(ctx, "http://"+env["SCIFLOW_PPROF_ADDR"])
				for b.Loop() {
					resp := get(query)
					f, err := os.Create(file)
					require.NoError(b, err)
					size, err = io.Copy(f, resp.Body)
					resp.Body.Close()
					require.NoError(b, err)
					require.NoError(b, f.Close())
				}
				peakHeap := heap()
				peak, err := srv.PeakRSS()
				require.NoError(b, err)
				require.NoError(b, checkExport(format, file, n))
				b.ReportMetric(float64(n), "entries")
				b.ReportMetric(float64(size)/(1<<20), "file-MiB")
				b.ReportMetric(float64(base)/(1<<20), "base-rss-MiB")
				b.ReportMetric(float64(peak)/(1<<20), "peak-rss-MiB")
				b.ReportMetric(float64(peakHeap)/(1<<20), "peak-heap-MiB")
			})
		}
	}
}

// freeLoopback is a loopback address with a port free a moment ago.
func freeLoopback(b *testing.B) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	defer ln.Close()
	return ln.Addr().String()
}

// sampleHeap reads the Go heap in use (HeapAlloc) of the server whose
// profiler is at base every 20 ms until the returned function is called,
// which returns the most it saw.
func sampleHeap(ctx context.Context, base string) func() int64 {
	var peak int64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			req, _ := http.NewRequestWithContext(ctx, "GET", base+"/debug/pprof/heap?debug=1", nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				continue
			}
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				if v, ok := strings.CutPrefix(sc.Text(), "# HeapAlloc = "); ok {
					if n, err := strconv.ParseInt(v, 10, 64); err == nil {
						peak = max(peak, n)
					}
				}
			}
			resp.Body.Close()
		}
	}()
	return func() int64 {
		close(stop)
		<-done
		return peak
	}
}

// checkExport checks that an export is well formed with want entries.
func checkExport(format, file string, want int) error {
	if format == "xlsx" {
		book, err := excelize.OpenFile(file)
		if err != nil {
			return err
		}
		defer book.Close()
		rows, err := book.Rows("审计日志")
		if err != nil {
			return err
		}
		n := 0
		for rows.Next() {
			n++
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if n != want+2 {
			return fmt.Errorf("%d rows, want %d and two headers", n, want)
		}
		return nil
	}
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReader(f)
	bom := make([]byte, 3)
	if _, err := io.ReadFull(br, bom); err != nil || string(bom) != "\xEF\xBB\xBF" {
		return fmt.Errorf("no byte-order mark: %q %v", bom, err)
	}
	r := csv.NewReader(br)
	r.ReuseRecord = true
	rows := 0
	for {
		_, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		rows++
	}
	if rows != want+1 {
		return fmt.Errorf("%d rows, want %d and a header", rows, want)
	}
	return nil
}
