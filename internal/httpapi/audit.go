package httpapi

import (
	"archive/zip"
	"context"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/xuri/excelize/v2"

	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/calendar"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/postgres"
)

// Oversight: the audit log is for auditors and administrators only.
func oversight(c echo.Context) (*identity.User, error) {
	u, err := currentUser(c)
	if err != nil {
		return nil, err
	}
	if !u.Has(identity.Auditor) && !u.Has(identity.Admin) {
		return nil, errs.E(errs.Forbidden, "仅审计人员和管理员可查看审计日志", "only auditors and administrators may read the audit log")
	}
	return u, nil
}

type auditEntryJSON struct {
	Seq           int64          `json:"seq"`
	At            string         `json:"at"`
	Kind          string         `json:"kind"`
	ActorID       *string        `json:"actor_id"`
	ApplicationID *string        `json:"application_id"`
	Workflow      string         `json:"workflow,omitempty"`
	Event         string         `json:"event,omitempty"`
	From          string         `json:"from,omitempty"`
	To            string         `json:"to,omitempty"`
	Comment       string         `json:"comment,omitempty"`
	Subject       string         `json:"subject,omitempty"`
	Data          map[string]any `json:"data,omitempty"`
	Hash          string         `json:"hash"`
}

func toAuditJSON(r audit.Recorded) auditEntryJSON {
	out := auditEntryJSON{Seq: r.Seq, At: timeJSON(r.At()), Kind: r.Kind, Workflow: r.Workflow, Event: r.Event,
		From: r.From, To: r.To, Comment: r.Comment, Subject: r.Subject, Data: r.Data, Hash: hex.EncodeToString(r.Hash)}
	if r.ActorID != "" {
		out.ActorID = &r.ActorID
	}
	if r.ApplicationID != "" {
		out.ApplicationID = &r.ApplicationID
	}
	return out
}

// auditFilter reads the filters of the list and the export. An
// administrator's search (q) looks only at the entries they may read in
// full, those not about an application, as ForReader shows them.
func auditFilter(c echo.Context, u *identity.User, extra ...string) (postgres.AuditQuery, error) {
	allowed := append([]string{"actor", "workflow", "event", "application_id", "from", "to", "q", "limit", "cursor"}, extra...)
	if err := checkQuery(c, allowed...); err != nil {
		return postgres.AuditQuery{}, err
	}
	f := postgres.AuditQuery{ActorID: c.QueryParam("actor"), Workflow: c.QueryParam("workflow"),
		Event: c.QueryParam("event"), ApplicationID: c.QueryParam("application_id"),
		Search: strings.TrimSpace(c.QueryParam("q")), SearchOutsideApplications: !u.Has(identity.Auditor)}
	var err error
	if f.From, err = queryTime(c, "from"); err != nil {
		return f, err
	}
	if f.To, err = queryTime(c, "to"); err != nil {
		return f, err
	}
	if f.Limit, err = queryInt(c, "limit", 100, 1, 1000); err != nil {
		return f, err
	}
	if cur := c.QueryParam("cursor"); cur != "" {
		n, err := strconv.ParseInt(cur, 10, 64)
		if err != nil || n < 0 {
			return f, errs.E(errs.BadRequest, "分页游标无效", "invalid cursor").Field("cursor", "无效", "invalid")
		}
		f.AfterSeq = n
	}
	return f, nil
}

func (s *Server) listAudit(c echo.Context) error {
	u, err := oversight(c)
	if err != nil {
		return err
	}
	f, err := auditFilter(c, u)
	if err != nil {
		return err
	}
	rows, err := s.db.AuditEntries(c.Request().Context(), f)
	if err != nil {
		return err
	}
	items := make([]auditEntryJSON, 0, len(rows))
	for _, row := range rows {
		rec, err := audit.Decode(row)
		if err != nil {
			return err
		}
		items = append(items, toAuditJSON(rec.ForReader(u)))
	}
	var next *string
	if len(rows) == f.Limit {
		s := strconv.FormatInt(rows[len(rows)-1].Seq, 10)
		next = &s
	}
	return c.JSON(http.StatusOK, map[string]any{"items": items, "next_cursor": next})
}

func (s *Server) verifyAudit(c echo.Context) error {
	if _, err := oversight(c); err != nil {
		return err
	}
	r, err := s.chain.Verify(c.Request().Context(), s.db)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, r)
}

// exportAudit answers the filtered log as a file, CSV or XLSX, read from
// one query row by row: an export of the whole log holds a few entries at
// a time (CSV, sent as it is read) or excelize's buffer of at most 16 MiB,
// the rest going to a temporary file (XLSX, sent when complete). The export
// is itself audited, before anything is read.
func (s *Server) exportAudit(c echo.Context) error {
	u, err := oversight(c)
	if err != nil {
		return err
	}
	f, err := auditFilter(c, u, "format")
	if err != nil {
		return err
	}
	format := c.QueryParam("format")
	if format == "" {
		format = "csv"
	}
	if format != "csv" && format != "xlsx" {
		return errs.E(errs.BadRequest, "导出格式应为 csv 或 xlsx", "format must be csv or xlsx").Field("format", "应为 csv 或 xlsx", "csv or xlsx")
	}
	if err := f.Check(); err != nil {
		return err
	}
	ctx := c.Request().Context()
	if err := s.recordExport(ctx, u, c.QueryParams(), format); err != nil {
		return err
	}
	stamp := time.Now().In(calendar.China).Format("20060102-150405")
	disposition := fmt.Sprintf(`attachment; filename="sciflow-audit-%s.%s"; filename*=UTF-8''%s`,
		stamp, format, url.PathEscape("审计日志-"+stamp+"."+format))
	c.Response().Header().Set("Cache-Control", "no-store")
	if format == "xlsx" {
		return s.exportXLSX(c, u, f, disposition)
	}
	return s.exportCSV(c, u, f, disposition)
}

// recordExport audits an export in a transaction of its own: who exported,
// in which format, with which filters (as given).
func (s *Server) recordExport(ctx context.Context, u *identity.User, query url.Values, format string) error {
	filters := map[string]any{}
	for k, v := range query {
		if k != "format" && len(v) > 0 && v[0] != "" {
			filters[k] = v[0]
		}
	}
	tx, err := s.db.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := s.chain.Append(ctx, tx, audit.Entry{Kind: audit.KindAuditExport, ActorID: u.ID,
		Data: map[string]any{"format": format, "filters": filters}}); err != nil {
		return err
	}
	return tx.Commit()
}

// auditColumns are the export's columns: Chinese for people, English for
// programs (one header row in CSV, two in XLSX).
var auditColumns = []struct{ zh, en string }{
	{"序号", "seq"}, {"时间（北京时间）", "at"}, {"类型", "kind"}, {"操作人", "actor"}, {"用户名", "username"},
	{"操作人编号", "actor_id"}, {"申请编号", "application_id"}, {"流程", "workflow"}, {"事件", "event"},
	{"原状态", "from"}, {"新状态", "to"}, {"意见", "comment"}, {"对象", "subject"}, {"数据", "data"}, {"哈希", "hash"},
}

// exportEntry is an entry as reader may see it, in auditColumns' order:
// seq, time, then the text of the others.
type exportEntry struct {
	seq  int64
	at   time.Time
	text []string
}

func exportEntryOf(row postgres.AuditExportRow, reader *identity.User) (exportEntry, error) {
	rec, err := audit.Decode(row.AuditRow)
	if err != nil {
		return exportEntry{}, err
	}
	rec = rec.ForReader(reader)
	var data string
	if rec.Data != nil {
		var b strings.Builder
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false) // people read it: 附件<说明>, not \u003c
		if err := enc.Encode(rec.Data); err != nil {
			return exportEntry{}, fmt.Errorf("encode entry %d data: %w", rec.Seq, err)
		}
		data = strings.TrimSuffix(b.String(), "\n")
	}
	return exportEntry{seq: rec.Seq, at: rec.At().In(calendar.China), text: []string{rec.Kind, row.ActorName.String,
		row.ActorUsername.String, rec.ActorID, rec.ApplicationID, rec.Workflow, rec.Event, rec.From, rec.To, rec.Comment,
		rec.Subject, data, hex.EncodeToString(rec.Hash)}}, nil
}

// csvFlushEvery is how many rows the CSV export buffers before sending.
const csvFlushEvery = 256

// exportCSV sends the entries as CSV as they are read: UTF-8 with a
// byte-order mark, so that Excel reads the Chinese right. The response
// starts with the first entry, so an error before it is still an answer;
// one after it breaks the connection, so that the file is not taken for
// complete.
func (s *Server) exportCSV(c echo.Context, u *identity.User, f postgres.AuditQuery, disposition string) error {
	res := c.Response()
	flusher := http.NewResponseController(res)
	var w *csv.Writer
	begin := func() {
		res.Header().Set("Content-Type", "text/csv; charset=utf-8")
		res.Header().Set("Content-Disposition", disposition)
		res.WriteHeader(http.StatusOK)
		res.Write([]byte("\xEF\xBB\xBF"))
		w = csv.NewWriter(res)
		header := make([]string, len(auditColumns))
		for i, col := range auditColumns {
			header[i] = col.zh + " " + col.en
		}
		w.Write(header)
	}
	n := 0
	record := make([]string, len(auditColumns))
	err := s.db.ScanAuditEntries(c.Request().Context(), f, func(row postgres.AuditExportRow) error {
		e, err := exportEntryOf(row, u)
		if err != nil {
			return err
		}
		if w == nil {
			begin()
		}
		record[0], record[1] = strconv.FormatInt(e.seq, 10), e.at.Format("2006-01-02 15:04:05")
		for i, t := range e.text {
			record[2+i] = asText(t)
		}
		if err := w.Write(record); err != nil {
			return err
		}
		if n++; n%csvFlushEvery == 0 {
			w.Flush()
			_ = flusher.Flush()
		}
		return w.Error()
	})
	if err != nil && w == nil {
		return err
	}
	if err != nil {
		s.abortExport(c, err)
	}
	if w == nil {
		begin()
	}
	w.Flush()
	return w.Error()
}

// asText keeps a spreadsheet from taking a cell for a formula: one that
// begins with = + - or @ gets a leading apostrophe (OWASP's advice on CSV
// injection), since comments come from applicants and the public.
func asText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// abortExport breaks off an export whose response has begun: the client
// sees an incomplete transfer instead of a file that looks whole. A client
// that went away is no news.
func (s *Server) abortExport(c echo.Context, err error) {
	if c.Request().Context().Err() == nil {
		s.log.Error("audit export broken off", "err", err, "request_id", c.Response().Header().Get(echo.HeaderXRequestID))
	}
	panic(http.ErrAbortHandler)
}

// xlsxRowsPerSheet is how many entries a worksheet takes below its two
// header rows: Excel's limit is 1,048,576 rows; more go to the next sheet.
// A variable so that a test need not write a million rows.
var xlsxRowsPerSheet = excelize.TotalRows - 2

// exportXLSX writes the entries through excelize's StreamWriter, then
// zips the workbook straight to the client: File.WriteTo would first build
// the whole file in memory.
func (s *Server) exportXLSX(c echo.Context, u *identity.User, f postgres.AuditQuery, disposition string) error {
	book, err := newAuditBook()
	if err != nil {
		return err
	}
	defer book.file.Close() // removes the temporary files
	err = s.db.ScanAuditEntries(c.Request().Context(), f, func(row postgres.AuditExportRow) error {
		e, err := exportEntryOf(row, u)
		if err != nil {
			return err
		}
		return book.add(e)
	})
	if err == nil {
		err = book.sheet.Flush()
	}
	if err != nil {
		return fmt.Errorf("write xlsx: %w", err)
	}
	res := c.Response()
	res.Header().Set("Content-Type", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
	res.Header().Set("Content-Disposition", disposition)
	res.WriteHeader(http.StatusOK)
	book.file.SetZipWriter(func(io.Writer) excelize.ZipWriter { return zip.NewWriter(res) })
	if _, err := book.file.WriteToBuffer(); err != nil { // the buffer stays empty
		s.abortExport(c, err)
	}
	return nil
}

// auditBook is an XLSX export being written.
type auditBook struct {
	file          *excelize.File
	sheet         *excelize.StreamWriter
	sheets, row   int
	header, stamp int // style ids
	cells         []any
}

func newAuditBook() (*auditBook, error) {
	b := &auditBook{file: excelize.NewFile(), cells: make([]any, len(auditColumns))}
	var err error
	if b.header, err = b.file.NewStyle(&excelize.Style{Font: &excelize.Font{Bold: true}}); err != nil {
		return nil, fmt.Errorf("xlsx style: %w", err)
	}
	format := "yyyy-mm-dd hh:mm:ss"
	if b.stamp, err = b.file.NewStyle(&excelize.Style{CustomNumFmt: &format}); err != nil {
		return nil, fmt.Errorf("xlsx style: %w", err)
	}
	if err := b.nextSheet(); err != nil {
		return nil, err
	}
	return b, nil
}

// nextSheet finishes the current worksheet, if any, and starts another
// with the two header rows, frozen.
func (b *auditBook) nextSheet() error {
	b.sheets++
	name := "审计日志"
	if b.sheets == 1 {
		if err := b.file.SetSheetName("Sheet1", name); err != nil {
			return fmt.Errorf("xlsx sheet: %w", err)
		}
	} else {
		if err := b.sheet.Flush(); err != nil {
			return fmt.Errorf("xlsx sheet: %w", err)
		}
		name += " " + strconv.Itoa(b.sheets)
		if _, err := b.file.NewSheet(name); err != nil {
			return fmt.Errorf("xlsx sheet: %w", err)
		}
	}
	sw, err := b.file.NewStreamWriter(name)
	if err != nil {
		return fmt.Errorf("xlsx sheet: %w", err)
	}
	b.sheet, b.row = sw, 0
	for i, width := range []float64{8, 20, 16, 12, 12, 38, 38, 14, 14, 14, 14, 40, 38, 60, 66} {
		if err := sw.SetColWidth(i+1, i+1, width); err != nil {
			return fmt.Errorf("xlsx sheet: %w", err)
		}
	}
	if err := sw.SetPanes(&excelize.Panes{Freeze: true, YSplit: 2, TopLeftCell: "A3", ActivePane: "bottomLeft"}); err != nil {
		return fmt.Errorf("xlsx sheet: %w", err)
	}
	zh, en := make([]any, len(auditColumns)), make([]any, len(auditColumns))
	for i, col := range auditColumns {
		zh[i] = excelize.Cell{StyleID: b.header, Value: col.zh}
		en[i] = excelize.Cell{StyleID: b.header, Value: col.en}
	}
	if err := sw.SetRow("A1", zh); err != nil {
		return fmt.Errorf("xlsx header: %w", err)
	}
	if err := sw.SetRow("A2", en); err != nil {
		return fmt.Errorf("xlsx header: %w", err)
	}
	return nil
}

// add writes one entry: seq a number, the time a date Excel can sort and
// filter on, the rest text (typed as text, never read as a formula).
func (b *auditBook) add(e exportEntry) error {
	if b.row == xlsxRowsPerSheet {
		if err := b.nextSheet(); err != nil {
			return err
		}
	}
	b.row++
	b.cells[0], b.cells[1] = e.seq, excelize.Cell{StyleID: b.stamp, Value: e.at}
	for i, t := range e.text {
		b.cells[2+i] = t
	}
	cell, err := excelize.CoordinatesToCellName(1, b.row+2)
	if err != nil {
		return err
	}
	if err := b.sheet.SetRow(cell, b.cells); err != nil {
		return fmt.Errorf("xlsx row: %w", err)
	}
	return nil
}
