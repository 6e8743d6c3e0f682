package httpapi

import (
	"archive/zip"
	"bytes"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/xuri/excelize/v2"
)

// Past a worksheet's rows the XLSX export goes on in the next sheet, each
// with its header rows, and the workbook zipped straight to the writer
// reads back whole.
func TestAuditBookTurnsTheSheet(t *testing.T) {
	defer func(n int) { xlsxRowsPerSheet = n }(xlsxRowsPerSheet)
	xlsxRowsPerSheet = 3
	book, err := newAuditBook()
	require.NoError(t, err)
	defer book.file.Close()
	at := time.Date(2026, 5, 10, 6, 3, 22, 0, time.UTC)
	for i := range 7 {
		text := make([]string, len(auditColumns)-2)
		text[9] = "=意见 " + strconv.Itoa(i+1)
		require.NoError(t, book.add(exportEntry{seq: int64(i + 1), at: at, text: text}))
	}
	require.NoError(t, book.sheet.Flush())
	var out bytes.Buffer
	book.file.SetZipWriter(func(io.Writer) excelize.ZipWriter { return zip.NewWriter(&out) })
	_, err = book.file.WriteToBuffer()
	require.NoError(t, err)

	read, err := excelize.OpenReader(&out)
	require.NoError(t, err)
	defer read.Close()
	require.Equal(t, []string{"审计日志", "审计日志 2", "审计日志 3"}, read.GetSheetList())
	for sheet, seqs := range map[string][]string{"审计日志": {"1", "2", "3"}, "审计日志 2": {"4", "5", "6"}, "审计日志 3": {"7"}} {
		rows, err := read.GetRows(sheet)
		require.NoError(t, err)
		require.Len(t, rows, 2+len(seqs), sheet)
		require.Equal(t, []string{"序号", "seq"}, []string{rows[0][0], rows[1][0]}, sheet)
		for i, seq := range seqs {
			require.Equal(t, seq, rows[2+i][0], sheet)
			require.Equal(t, "2026-05-10 06:03:22", rows[2+i][1], "the time as given, a date cell")
			require.Equal(t, "=意见 "+seq, rows[2+i][11], "text, not a formula")
		}
	}
}

// A CSV cell that a spreadsheet would take for a formula is kept text.
func TestAsText(t *testing.T) {
	for in, want := range map[string]string{"=HYPERLINK(\"x\")": "'=HYPERLINK(\"x\")", "+1": "'+1", "-同意": "'-同意",
		"@SUM(A1)": "'@SUM(A1)", "同意 = 通过": "同意 = 通过", "": ""} {
		require.Equal(t, want, asText(in))
	}
}
