// Package web embeds the browser pages' templates and static files, so the
// binary serves every asset itself (nothing from a CDN).
package web

import "embed"

// Templates holds the page templates, parsed once at start-up by webui.
//
//go:embed templates
var Templates embed.FS

// Static holds stylesheets, scripts and images served under /static/.
//
//go:embed static
var Static embed.FS
