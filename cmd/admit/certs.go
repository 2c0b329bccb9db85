package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/admitpark/admit/cluster/pki"
)

// newCertsCmd is `admit cluster certs`: the cluster CA and node
// certificates for mutual TLS on the Raft port (and HTTPS on the API).
func newCertsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "certs",
		Short: "Make the cluster CA and node certificates (mutual TLS between nodes, HTTPS)",
		Long: `Make the certificates of a cluster (ECDSA P-256), as PEM files in --dir:

  ca.crt, ca.key     the cluster CA (init). Keep ca.key off the nodes: whoever
                     holds it can make a node certificate and join the cluster.
  <id>.crt, <id>.key a node's certificate (node): CommonName = the node id,
                     OU = admit-node, and the hosts other nodes dial it at as
                     SANs. Peers accept node-to-node calls only from a
                     certificate naming a cluster member.

Give each node its own pair and ca.crt:
  admit node --tls-cert n1.crt --tls-key n1.key --tls-ca ca.crt \
             --http-tls-cert n1.crt --http-tls-key n1.key ...
and clients --cacert ca.crt. Rotation: deploy/README.md#certificates.`,
	}
	var dir, name string
	var days int
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Make a new cluster CA (ca.crt, ca.key) in --dir",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := pki.InitCA(dir, name, time.Duration(days)*24*time.Hour); err != nil {
				return err
			}
			crt, key := pki.CAFiles(dir)
			fmt.Fprintf(cmd.OutOrStdout(), "cluster CA %q, valid %d days: %s (give to every node and client), %s (keep offline)\n", name, days, crt, key)
			return nil
		},
	}
	initCmd.Flags().StringVar(&dir, "dir", "", "directory for the certificates (required; created 0700)")
	initCmd.Flags().StringVar(&name, "name", "admit cluster CA", "the CA's common name")
	initCmd.Flags().IntVar(&days, "days", int(pki.DefaultCAValidity/(24*time.Hour)), "validity in days")
	initCmd.MarkFlagRequired("dir")

	var id, hosts string
	var nodeDays int
	var replace bool
	nodeCmd := &cobra.Command{
		Use:   "node",
		Short: "Make a node's certificate (<id>.crt, <id>.key), signed by the CA in --dir",
		Example: `  admit cluster certs node --dir /etc/admit/pki --id n1 --host 10.0.0.1,n1.park.lan
  admit cluster certs node --dir pki --id admit-node-0 --host admit-node-0.admit.svc,admit-node-0.admit-node-headless.admit.svc`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			list := strings.Split(hosts, ",")
			if err := pki.IssueNode(dir, id, list, time.Duration(nodeDays)*24*time.Hour, replace); err != nil {
				return err
			}
			crt, key := pki.NodeFiles(dir, id)
			fmt.Fprintf(cmd.OutOrStdout(), "node %s, hosts %s, valid %d days: %s, %s\n", id, hosts, nodeDays, crt, key)
			return nil
		},
	}
	nf := nodeCmd.Flags()
	nf.StringVar(&dir, "dir", "", "directory holding ca.crt and ca.key; the node's files are written there (required)")
	nf.StringVar(&id, "id", "", "node id, as given to 'admit node --id' (required)")
	nf.StringVar(&hosts, "host", "", "comma-separated IP addresses and DNS names other nodes and clients dial this node at (required)")
	nf.IntVar(&nodeDays, "days", int(pki.DefaultNodeValidity/(24*time.Hour)), "validity in days (at most the CA's)")
	nf.BoolVar(&replace, "replace", false, "overwrite an existing certificate of this node (rotation)")
	nodeCmd.MarkFlagRequired("dir")
	nodeCmd.MarkFlagRequired("id")
	nodeCmd.MarkFlagRequired("host")

	cmd.AddCommand(initCmd, nodeCmd)
	return cmd
}
