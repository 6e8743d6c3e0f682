package webui

import "github.com/labstack/echo/v4"

// The administrator's and auditor's console: users and organisations,
// workflow definitions with their diagrams, the audit log and the chain's
// verification, and the plan dashboard.

// consolePages are the console's templates in web/templates.
var consolePages = []string{}

func (ui *UI) mountConsole(e *echo.Echo) {}
