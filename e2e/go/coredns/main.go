// A CoreDNS with only the plugins the real node's cluster DNS needs, built the way CoreDNS
// documents for custom builds (import the plugins, set the directive order, call coremain).
// Why: the real node (e2e/realnode) has no cluster DNS, and JobSet trials find their leader
// Pod by name (<jobset>-leader-0-0.<jobset>).
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/ready"
)

// The plugin chain's order: upstream's plugin.cfg order, restricted to the plugins above.
var directives = []string{"bind", "ready", "health", "errors", "cache", "kubernetes", "forward"}

func init() { dnsserver.Directives = directives }

func main() { coremain.Run() }
