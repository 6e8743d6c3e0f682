package webui

import (
	"github.com/labstack/echo/v4"

	"github.com/sciflow/sciflow/internal/audit"
	"github.com/sciflow/sciflow/internal/engine"
	"github.com/sciflow/sciflow/internal/errs"
	"github.com/sciflow/sciflow/internal/identity"
	"github.com/sciflow/sciflow/internal/workflow"
)

// The administrator's and auditor's console: users and organisations,
// workflow definitions with their diagrams, the audit log and the chain's
// verification, and the plan dashboard. Each page calls the same service
// methods, under the same rules, as its counterpart in the JSON API.

// consolePages are the console's templates in web/templates.
var consolePages = []string{"console_admin", "console_users", "console_user", "console_orgs",
	"console_workflows", "console_workflow", "console_audit", "console_plan", "console_oversight"}

func (ui *UI) mountConsole(e *echo.Echo) {
	e.GET("/admin", ui.signedIn(ui.adminHome))
	e.GET("/admin/users", ui.signedIn(ui.adminUsers))
	e.POST("/admin/users", ui.signedIn(ui.createUser))
	e.GET("/admin/users/:id", ui.signedIn(ui.adminUser))
	e.POST("/admin/users/:id", ui.signedIn(ui.updateUser))
	e.POST("/admin/users/:id/org", ui.signedIn(ui.moveUser))
	e.POST("/admin/users/:id/reset", ui.signedIn(ui.issueReset))
	e.GET("/admin/orgs", ui.signedIn(ui.adminOrgs))
	e.POST("/admin/orgs", ui.signedIn(ui.createOrg))
	e.GET("/admin/workflows", ui.signedIn(ui.workflowList))
	e.GET("/admin/workflows/:key", ui.signedIn(ui.workflowPage))
	e.GET("/audit", ui.signedIn(ui.auditLog))
	e.GET("/audit/verify", ui.signedIn(ui.auditVerify))
	e.GET("/oversight", ui.signedIn(ui.oversightChecks))
	e.GET("/plan", ui.signedIn(ui.plan))
}

// Who may open what: the same rules as the API's (account.requireAdmin,
// httpapi's oversight, engine.PlanStats), checked before anything is read.

func requireAdmin(u *identity.User) error {
	if !u.Has(identity.Admin) {
		return errs.E(errs.Forbidden, "仅系统管理员可管理账号和单位", "only administrators manage accounts and organisations")
	}
	return nil
}

func requireOversight(u *identity.User) error {
	if !u.Has(identity.Auditor) && !u.Has(identity.Admin) {
		return errs.E(errs.Forbidden, "仅审计人员和管理员可查看审计日志", "only auditors and administrators may read the audit log")
	}
	return nil
}

// Workflow definitions are for the people who run or oversee the process;
// applicants and reviewers see their own steps on the application pages.
func requireDefinitionReader(u *identity.User) error {
	if !u.Has(identity.Admin) && !u.Has(identity.Auditor) && !u.Has(identity.Staff) {
		return errs.E(errs.Forbidden, "仅系统管理员、审计人员和科技局经办人可查看流程定义",
			"only administrators, auditors and bureau staff may read the workflow definitions")
	}
	return nil
}

// Words for keys the console shows.

var roleWords = map[string]errs.Text{
	string(identity.Applicant):    {Zh: "申报人", En: "applicant"},
	string(identity.UnitReviewer): {Zh: "推荐单位审核人", En: "unit reviewer"},
	string(identity.Staff):        {Zh: "科技局经办人", En: "bureau staff"},
	string(identity.Expert):       {Zh: "评审专家", En: "expert"},
	string(identity.Leader):       {Zh: "局领导", En: "leader"},
	string(identity.Auditor):      {Zh: "审计监督", En: "auditor"},
	string(identity.Admin):        {Zh: "系统管理员", En: "administrator"},
	string(identity.Party):        {Zh: "服务对象", En: "service target"},
}

var orgKindWords = map[string]errs.Text{
	string(identity.Enterprise): {Zh: "企业", En: "enterprise"},
	string(identity.Institute):  {Zh: "高校/科研院所", En: "university or institute"},
	string(identity.Employer):   {Zh: "用人单位", En: "employer"},
	string(identity.Bureau):     {Zh: "政府部门", En: "government body"},
	string(identity.Village):    {Zh: "村/服务对象", En: "village or service target"},
}

var stateKindWords = map[string]errs.Text{
	string(workflow.KindEdit):     {Zh: "填写", En: "edit"},
	string(workflow.KindReview):   {Zh: "审核", En: "review"},
	string(workflow.KindNotice):   {Zh: "公示", En: "notice"},
	string(workflow.KindActive):   {Zh: "执行", En: "active"},
	string(workflow.KindTerminal): {Zh: "结束", En: "terminal"},
}

var auditKindWords = map[string]errs.Text{
	audit.KindTransition:       {Zh: "流转", En: "transition"},
	audit.KindDataPatch:        {Zh: "修改表单", En: "form edited"},
	audit.KindAttachment:       {Zh: "上传附件", En: "file uploaded"},
	audit.KindWorkflow:         {Zh: "流程版本", En: "workflow version"},
	audit.KindMigrate:          {Zh: "流程迁移", En: "workflow migration"},
	audit.KindLogin:            {Zh: "登录", En: "sign-in"},
	audit.KindLoginFailed:      {Zh: "登录失败", En: "failed sign-in"},
	audit.KindLogout:           {Zh: "退出", En: "sign-out"},
	audit.KindOrgCreate:        {Zh: "新建单位", En: "organisation created"},
	audit.KindUserCreate:       {Zh: "新建用户", En: "user created"},
	audit.KindUserChange:       {Zh: "修改用户", En: "user changed"},
	audit.KindCalendarOverride: {Zh: "调整工作日", En: "working-day override"},
	audit.KindAuditExport:      {Zh: "导出审计日志", En: "audit log exported"},
	audit.KindReviewDecision:   {Zh: "评审决定", En: "review decision"},
	audit.KindReviewRecall:     {Zh: "取回决定", En: "decision recalled"},
	audit.KindReviewRecuse:     {Zh: "回避", En: "recusal"},
	audit.KindReviewDelegate:   {Zh: "转办", En: "handed over"},
	audit.KindReviewAssign:     {Zh: "指定评审人", En: "reviewer added"},
	audit.KindExpertDraw:       {Zh: "抽取专家", En: "expert draw"},
	audit.KindAnswer:           {Zh: "答复问题", En: "questions answered"},
	engine.KindObjection:       {Zh: "公示异议", En: "objection filed"},
}

var problemWords = map[string]errs.Text{
	audit.ProblemAltered:   {Zh: "内容被改动", En: "altered"},
	audit.ProblemDeleted:   {Zh: "条目被删除", En: "deleted"},
	audit.ProblemInserted:  {Zh: "多出的条目", En: "inserted"},
	audit.ProblemTruncated: {Zh: "末尾条目缺失", En: "truncated"},
	audit.ProblemRelinked:  {Zh: "链接不连续", En: "relinked"},
	audit.ProblemHead:      {Zh: "链头签名无效", En: "head invalid"},
	audit.ProblemState:     {Zh: "申请状态与历史不符", En: "state differs from history"},
}

var aggregateWords = map[string]errs.Text{
	string(workflow.Mean):        {Zh: "平均分", En: "mean"},
	string(workflow.TrimmedMean): {Zh: "去掉最高最低分后的平均分", En: "trimmed mean"},
}

func roleList(roles []identity.Role, en bool) []string {
	out := make([]string, len(roles))
	for i, r := range roles {
		out[i] = word(roleWords, string(r), en)
	}
	return out
}

// roleOptions are the roles an account may hold, in their stable order.
func roleOptions(en bool) []option {
	out := make([]option, len(identity.Roles))
	for i, r := range identity.Roles {
		out[i] = option{Value: string(r), Label: word(roleWords, string(r), en)}
	}
	return out
}
