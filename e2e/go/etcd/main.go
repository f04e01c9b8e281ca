// Command etcd is upstream etcd's server main, built from the go.etcd.io/etcd/server/v3
// module (the go.etcd.io/etcd/v3 main module carries replace lines, so it cannot be a
// dependency). Same code path as upstream's etcd binary: etcdmain.Main.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
