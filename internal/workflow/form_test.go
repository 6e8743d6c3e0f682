package workflow

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/sciflow/sciflow/internal/errs"
)

// idForm uses the Chinese identifier formats, at the top and inside a list;
// loose has a format but no type.
const idForm = `{"type": "object", "properties": {
 "credit_code": {"type": "string", "format": "credit-code"},
 "id_number": {"type": "string", "format": "resident-id"},
 "phone": {"type": "string", "format": "phone"},
 "team": {"type": "array", "items": {"type": "object", "properties": {"id_number": {"type": "string", "format": "resident-id"}}}},
 "loose": {"format": "resident-id"}}}`

// residentID completes 17 digits with their check character, worked out
// from GB 11643 itself (the weight of the digit i places before the check
// is 2^i mod 11, and the whole sum must be 1 mod 11) rather than from the
// tables identity uses.
func residentID(first17 string) string {
	sum, w := 0, 1
	for i := 16; i >= 0; i-- {
		w = w * 2 % 11
		sum += int(first17[i]-'0') * w
	}
	c := (12 - sum%11) % 11
	if c == 10 {
		return first17 + "X"
	}
	return first17 + strconv.Itoa(c)
}

// wrongCheck changes an identifier's last character to another check
// character.
func wrongCheck(id string) string {
	last := id[len(id)-1]
	for _, c := range "0123456789X" {
		if byte(c) != last {
			return id[:len(id)-1] + string(c)
		}
	}
	panic(id)
}

func TestResidentIDHelper(t *testing.T) {
	// The example GB 11643 and every ID-card guide give.
	require.Equal(t, "11010519491231002X", residentID("11010519491231002"))
	require.Equal(t, "11010519491231002", wrongCheck("11010519491231002X")[:17])
	require.NotEqual(t, "11010519491231002X", wrongCheck("11010519491231002X"))
}

func TestFormatsHaveBilingualMessages(t *testing.T) {
	for _, f := range formats {
		msg, ok := formatMessages[f.Name]
		require.True(t, ok, "format %s has no message: people would see the library's English", f.Name)
		require.NotEmpty(t, msg.Zh, f.Name)
		require.NotEmpty(t, msg.En, f.Name)
	}
}

func TestIdentifierFormats(t *testing.T) {
	doc, err := decodeJSON([]byte(idForm))
	require.NoError(t, err)
	schema, err := compileSchema("id.form.json", doc)
	require.NoError(t, err)

	const credit = "91350100M000100Y43"
	person := residentID("11010519491231002")
	nextYear := time.Now().AddDate(1, 0, 0).Format("20060102")
	creditMsg, idMsg, phoneMsg := formatMessages["credit-code"], formatMessages["resident-id"], formatMessages["phone"]
	require.Equal(t, errs.Text{Zh: "居民身份证号码不正确（18 位，校验位或出生日期不符）",
		En: "not a valid resident ID number (18 characters; the check character or the birth date does not match)"}, idMsg)

	for _, tc := range []struct {
		name string
		data map[string]any
		want map[string]errs.Text // nil: valid
	}{
		{"valid credit code", map[string]any{"credit_code": credit}, nil},
		{"valid resident ID", map[string]any{"id_number": person}, nil},
		{"valid resident ID with an X", map[string]any{"id_number": "11010519491231002X"}, nil},
		{"valid resident ID born in a leap day", map[string]any{"id_number": residentID("11010520000229123")}, nil},
		{"valid mobile", map[string]any{"phone": "13812345678"}, nil},
		{"valid mobile 19x", map[string]any{"phone": "19912345678"}, nil},
		{"valid landline", map[string]any{"phone": "023-55123456"}, nil},
		{"valid landline without a dash", map[string]any{"phone": "075588888888"}, nil},
		{"valid landline with an extension", map[string]any{"phone": "0755-8888888-123"}, nil},
		{"valid list of people", map[string]any{"team": []any{map[string]any{"id_number": person}}}, nil},

		{"credit code one character off", map[string]any{"credit_code": "91350100M000100Y44"},
			map[string]errs.Text{"data.credit_code": creditMsg}},
		{"credit code of 17 characters", map[string]any{"credit_code": credit[:17]},
			map[string]errs.Text{"data.credit_code": creditMsg}},
		{"resident ID with a wrong check character", map[string]any{"id_number": wrongCheck(person)},
			map[string]errs.Text{"data.id_number": idMsg}},
		{"resident ID born on 31 February", map[string]any{"id_number": residentID("11010519990231002")},
			map[string]errs.Text{"data.id_number": idMsg}},
		{"resident ID born on 29 February of a common year", map[string]any{"id_number": residentID("11010519990229002")},
			map[string]errs.Text{"data.id_number": idMsg}},
		{"resident ID born next year", map[string]any{"id_number": residentID("110105" + nextYear + "002")},
			map[string]errs.Text{"data.id_number": idMsg}},
		{"resident ID born before 1900", map[string]any{"id_number": residentID("11010518991231002")},
			map[string]errs.Text{"data.id_number": idMsg}},
		{"resident ID of 17 digits", map[string]any{"id_number": person[:17]},
			map[string]errs.Text{"data.id_number": idMsg}},
		{"resident ID of 19 characters", map[string]any{"id_number": person + "0"},
			map[string]errs.Text{"data.id_number": idMsg}},
		{"mobile of 12 digits", map[string]any{"phone": "138123456789"},
			map[string]errs.Text{"data.phone": phoneMsg}},
		{"mobile of 10 digits", map[string]any{"phone": "1381234567"},
			map[string]errs.Text{"data.phone": phoneMsg}},
		{"11 digits starting with 2", map[string]any{"phone": "23812345678"},
			map[string]errs.Text{"data.phone": phoneMsg}},
		{"mobile starting with 12", map[string]any{"phone": "12812345678"},
			map[string]errs.Text{"data.phone": phoneMsg}},
		{"phone with letters", map[string]any{"phone": "1381234567a"},
			map[string]errs.Text{"data.phone": phoneMsg}},
		{"landline without its area code", map[string]any{"phone": "55123456"},
			map[string]errs.Text{"data.phone": phoneMsg}},
		{"every field wrong at once",
			map[string]any{"credit_code": wrongCheck(credit), "id_number": wrongCheck(person), "phone": "phone"},
			map[string]errs.Text{"data.credit_code": creditMsg, "data.id_number": idMsg, "data.phone": phoneMsg}},
		{"resident ID inside a list", map[string]any{"team": []any{
			map[string]any{"id_number": person}, map[string]any{"id_number": wrongCheck(person)}}},
			map[string]errs.Text{"data.team.1.id_number": idMsg}},

		// A number is not a string: type says so, not the format.
		{"resident ID as a number", map[string]any{"id_number": 110105194912310020},
			map[string]errs.Text{"data.id_number": {Zh: "类型应为 文本", En: "got number, want string"}}},
		{"phone as a number", map[string]any{"phone": 13812345678},
			map[string]errs.Text{"data.phone": {Zh: "类型应为 文本", En: "got number, want string"}}},
		{"a format without a type lets a number through", map[string]any{"loose": 12345}, nil},
		{"a format without a type still checks a string", map[string]any{"loose": "12345"},
			map[string]errs.Text{"data.loose": idMsg}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, mode := range []FormMode{Complete, Partial} {
				err := Validate(schema, tc.data, "data", mode)
				if tc.want == nil {
					require.NoError(t, err, "mode %d", mode)
					continue
				}
				e := errs.As(err)
				require.NotNil(t, e, "mode %d: %v", mode, err)
				require.Equal(t, errs.Invalid, e.Code)
				require.Equal(t, tc.want, e.Fields, "mode %d: a draft is checked for formats too", mode)
			}
		})
	}
}

// TestResidentIDBirthDateIsReal walks a year of birth dates: every real day
// is accepted and no impossible one is.
func TestResidentIDBirthDateIsReal(t *testing.T) {
	doc, err := decodeJSON([]byte(idForm))
	require.NoError(t, err)
	schema, err := compileSchema("id.form.json", doc)
	require.NoError(t, err)
	for month := 1; month <= 12; month++ {
		for day := 28; day <= 32; day++ {
			date := time.Date(2023, time.Month(month), day, 0, 0, 0, 0, time.UTC)
			exists := date.Month() == time.Month(month)
			digits := fmt.Sprintf("2023%02d%02d", month, day)
			err := Validate(schema, map[string]any{"id_number": residentID("500101" + digits + "123")}, "data", Complete)
			if exists {
				require.NoError(t, err, digits)
			} else {
				require.Error(t, err, digits)
				require.True(t, strings.HasPrefix(errs.As(err).Fields["data.id_number"].En, "not a valid resident ID"), digits)
			}
		}
	}
}
