package workflow

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
)

// compileSchema compiles a JSON Schema document (draft 2020-12 unless it says
// otherwise). References may only point inside the document: nothing is
// fetched from the network or the disk.
func compileSchema(name string, doc any) (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	for _, f := range formats {
		c.RegisterFormat(f)
	}
	c.UseLoader(noLoader{})
	url := "mem:///" + name
	if err := c.AddResource(url, doc); err != nil {
		return nil, err
	}
	return c.Compile(url)
}

// formats are the Chinese identifiers forms check beyond their shape: the
// check characters of a unified social credit code and of a resident ID
// (and its birth date), and a phone number.
var formats = []*jsonschema.Format{
	{Name: "credit-code", Validate: stringFormat(identity.ValidCreditCode)},
	{Name: "resident-id", Validate: stringFormat(func(s string) bool { return identity.ValidResidentID(s, time.Now()) })},
	{Name: "phone", Validate: stringFormat(identity.ValidPhone)},
}

// formatMessages word the formats' failures for the people filling in forms.
var formatMessages = map[string]errs.Text{
	"credit-code": {Zh: "统一社会信用代码不正确（18 位，校验位不符或含非法字符）", En: "not a valid unified social credit code (18 characters; the check character does not match)"},
	"resident-id": {Zh: "居民身份证号码不正确（18 位，校验位或出生日期不符）", En: "not a valid resident ID number (18 characters; the check character or the birth date does not match)"},
	"phone":       {Zh: "电话号码不正确（手机 11 位，或区号加座机号）", En: "not a valid phone number (an 11-digit mobile, or a landline with its area code)"},
	"date":        {Zh: "应为日期，如 2026-05-01", En: "must be a date such as 2026-05-01"},
	"email":       {Zh: "电子邮件地址不正确", En: "not a valid e-mail address"},
}

func stringFormat(ok func(string) bool) func(any) error {
	return func(v any) error {
		s, isString := v.(string)
		if !isString || ok(s) {
			return nil
		}
		return fmt.Errorf("invalid")
	}
}

type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("schemas may not refer to other documents (%s)", url)
}

// decodeJSON reads JSON the way the schema library expects (numbers exact).
func decodeJSON(raw []byte) (any, error) {
	return jsonschema.UnmarshalJSON(bytes.NewReader(raw))
}

// FormMode says how strictly data is checked against the form.
type FormMode int

// The modes of ValidateForm.
const (
	// Complete checks everything, as on submit.
	Complete FormMode = iota
	// Partial forgives missing required fields, so drafts can be saved
	// half-filled, but still refuses wrong types, lengths and values.
	Partial
)

// Validate checks data against schema and returns an errs.Invalid whose
// Fields say, per path under prefix ("data.budget"), what is wrong.
func Validate(schema *jsonschema.Schema, data map[string]any, prefix string, mode FormMode) error {
	if schema == nil {
		return nil
	}
	// Round-trip through JSON so that the values have the types the
	// validator expects, whatever the caller built.
	raw, err := json.Marshal(data)
	if err != nil {
		return fmt.Errorf("encode data: %w", err)
	}
	doc, err := decodeJSON(raw)
	if err != nil {
		return fmt.Errorf("decode data: %w", err)
	}
	err = schema.Validate(doc)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return fmt.Errorf("validate: %w", err)
	}
	fields := map[string]errs.Text{}
	collectLeaves(ve, prefix, mode, fields)
	if len(fields) == 0 {
		return nil
	}
	e := errs.E(errs.Invalid, "表单填写有误", "the form has errors")
	e.Fields = fields
	return e
}

var enPrinter = message.NewPrinter(language.English)

func collectLeaves(ve *jsonschema.ValidationError, prefix string, mode FormMode, out map[string]errs.Text) {
	if len(ve.Causes) > 0 {
		for _, c := range ve.Causes {
			collectLeaves(c, prefix, mode, out)
		}
		return
	}
	if req, ok := ve.ErrorKind.(*kind.Required); ok {
		if mode == Partial {
			return
		}
		for _, m := range req.Missing {
			path := fieldPath(prefix, append(append([]string{}, ve.InstanceLocation...), m))
			out[path] = errs.Text{Zh: "必填", En: "required"}
		}
		return
	}
	path := fieldPath(prefix, ve.InstanceLocation)
	if _, seen := out[path]; seen {
		return
	}
	if f, ok := ve.ErrorKind.(*kind.Format); ok {
		if msg, ok := formatMessages[f.Want]; ok {
			out[path] = msg
			return
		}
	}
	out[path] = errs.Text{Zh: chineseMessage(ve.ErrorKind), En: ve.ErrorKind.LocalizedString(enPrinter)}
}

func fieldPath(prefix string, loc []string) string {
	parts := append([]string{}, loc...)
	if prefix != "" {
		parts = append([]string{prefix}, parts...)
	}
	return strings.Join(parts, ".")
}

// chineseMessage words the common schema failures in Chinese; the rarer ones
// keep the library's English.
func chineseMessage(k jsonschema.ErrorKind) string {
	switch k := k.(type) {
	case *kind.Type:
		return "类型应为 " + strings.Join(typeNames(k.Want), " 或 ")
	case *kind.MinLength:
		return fmt.Sprintf("至少 %d 个字符", k.Want)
	case *kind.MaxLength:
		return fmt.Sprintf("不能超过 %d 个字符", k.Want)
	case *kind.Minimum:
		return "不能小于 " + ratString(k.Want)
	case *kind.Maximum:
		return "不能大于 " + ratString(k.Want)
	case *kind.ExclusiveMinimum:
		return "应大于 " + ratString(k.Want)
	case *kind.ExclusiveMaximum:
		return "应小于 " + ratString(k.Want)
	case *kind.Enum:
		return "不是允许的取值"
	case *kind.Const:
		return "取值不正确"
	case *kind.Pattern:
		return "格式不正确"
	case *kind.Format:
		return "格式不正确（应为 " + k.Want + "）"
	case *kind.MinItems:
		return fmt.Sprintf("至少 %d 项", k.Want)
	case *kind.MaxItems:
		return fmt.Sprintf("不能超过 %d 项", k.Want)
	case *kind.AdditionalProperties:
		sort.Strings(k.Properties)
		return "不允许的字段：" + strings.Join(k.Properties, "、")
	case *kind.UniqueItems:
		return "存在重复项"
	case *kind.MultipleOf:
		return "应为 " + ratString(k.Want) + " 的倍数"
	}
	return k.LocalizedString(enPrinter)
}

var typeZh = map[string]string{"string": "文本", "number": "数字", "integer": "整数", "boolean": "是/否",
	"object": "对象", "array": "列表", "null": "空"}

func typeNames(ts []string) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		if zh, ok := typeZh[t]; ok {
			out[i] = zh
		} else {
			out[i] = t
		}
	}
	return out
}

func ratString(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	f, _ := r.Float64()
	return fmt.Sprint(f)
}
