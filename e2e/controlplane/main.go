// Command controlplane is a Kubernetes control plane in one binary, for redis-stretch's
// end-to-end tests: no container images can be pulled where they run, so the real
// kube-apiserver, kube-controller-manager, kube-scheduler and etcd are built here from their Go
// modules and started as subcommands of this one program (like the old hyperkube):
//
//	controlplane kube-apiserver FLAGS...
//	controlplane kube-controller-manager FLAGS...
//	controlplane kube-scheduler FLAGS...
//	controlplane etcd FLAGS...
//	controlplane helm ARGS...
//
// Each subcommand calls the upstream command constructor (cmd/*/app, helm's pkg/cmd) or
// etcdmain.Main with the remaining arguments, so every upstream flag works as documented. Helm
// (v4, which requires exactly the k8s.io modules of v1.37.2) is here to install the operator's
// chart into this control plane. scripts/controlplane.sh
// builds this binary and starts the four processes on loopback.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	_ "time/tzdata" // CronJob time zones, as the upstream mains

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/server/v3/etcdmain"
	helmcmd "helm.sh/helm/v4/pkg/cmd"
	helmkube "helm.sh/helm/v4/pkg/kube"
	"k8s.io/component-base/cli"
	_ "k8s.io/component-base/logs/json/register"          // --logging-format=json, as upstream
	_ "k8s.io/component-base/metrics/prometheus/clientgo" // client-go metrics, as upstream
	_ "k8s.io/component-base/metrics/prometheus/version"  // version metric, as upstream
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

const usage = "usage: controlplane kube-apiserver|kube-controller-manager|kube-scheduler|etcd|helm [ARGS...]"

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	name, args := os.Args[1], os.Args[2:]
	var command *cobra.Command
	switch name {
	case "kube-apiserver":
		command = apiserver.NewAPIServerCommand()
	case "kube-controller-manager":
		command = controllermanager.NewControllerManagerCommand()
	case "kube-scheduler":
		command = scheduler.NewSchedulerCommand()
	case "etcd":
		// etcdmain reads os.Args itself (args[0] is the program name, as etcd's own main).
		etcdmain.Main(append([]string{filepath.Join(filepath.Dir(os.Args[0]), "etcd")}, args...))
		return
	case "helm":
		// As helm's own main: the field manager is "helm" whatever this binary is called.
		helmkube.ManagedFieldsManager = "helm"
		cmd, err := helmcmd.NewRootCmd(os.Stdout, args, helmcmd.SetupLogging)
		if err != nil {
			fmt.Fprintln(os.Stderr, "helm:", err)
			os.Exit(1)
		}
		cmd.SetArgs(args)
		if err := cmd.Execute(); err != nil {
			var cerr helmcmd.CommandError
			if errors.As(err, &cerr) {
				os.Exit(cerr.ExitCode)
			}
			os.Exit(1)
		}
		return
	case "-h", "--help", "help":
		fmt.Println(usage)
		return
	default:
		fmt.Fprintf(os.Stderr, "unknown component %q\n%s\n", name, usage)
		os.Exit(2)
	}
	// cli.Run parses the flags from os.Args[1:]; give the command only its own.
	command.SetArgs(args)
	os.Exit(cli.Run(command))
}
