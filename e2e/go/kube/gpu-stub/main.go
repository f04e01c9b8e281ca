// gpu-stub: a device plugin that makes the test plane's real node advertise N nvidia.com/gpu.
//
// The kubelet's device manager then counts, allocates and admits GPU Pods for real (a Pod asking
// for more than N stays Pending); no GPU exists, so Allocate only hands the container the
// environment a real NVIDIA plugin would (NVIDIA_VISIBLE_DEVICES), and no device node.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	pluginapi "k8s.io/kubelet/pkg/apis/deviceplugin/v1beta1"
)

type plugin struct {
	pluginapi.UnimplementedDevicePluginServer
	devices []*pluginapi.Device
}

func (p *plugin) GetDevicePluginOptions(context.Context, *pluginapi.Empty) (*pluginapi.DevicePluginOptions, error) {
	return &pluginapi.DevicePluginOptions{}, nil
}

func (p *plugin) ListAndWatch(_ *pluginapi.Empty, stream pluginapi.DevicePlugin_ListAndWatchServer) error {
	if err := stream.Send(&pluginapi.ListAndWatchResponse{Devices: p.devices}); err != nil {
		return err
	}
	<-stream.Context().Done() // the devices never change; the kubelet closes the stream
	return nil
}

func (p *plugin) Allocate(_ context.Context, req *pluginapi.AllocateRequest) (*pluginapi.AllocateResponse, error) {
	resp := &pluginapi.AllocateResponse{}
	for _, c := range req.ContainerRequests {
		log.Printf("allocate %v", c.DevicesIDs)
		resp.ContainerResponses = append(resp.ContainerResponses, &pluginapi.ContainerAllocateResponse{
			Envs: map[string]string{"NVIDIA_VISIBLE_DEVICES": strings.Join(c.DevicesIDs, ",")},
		})
	}
	return resp, nil
}

func (p *plugin) GetPreferredAllocation(context.Context, *pluginapi.PreferredAllocationRequest) (*pluginapi.PreferredAllocationResponse, error) {
	return &pluginapi.PreferredAllocationResponse{}, nil
}

func (p *plugin) PreStartContainer(context.Context, *pluginapi.PreStartContainerRequest) (*pluginapi.PreStartContainerResponse, error) {
	return &pluginapi.PreStartContainerResponse{}, nil
}

// registerOnce tells the kubelet where our socket is.
func registerOnce(kubeletSocket, endpoint, resource string) error {
	conn, err := grpc.NewClient("unix://"+kubeletSocket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = pluginapi.NewRegistrationClient(conn).Register(ctx, &pluginapi.RegisterRequest{
		Version: pluginapi.Version, Endpoint: endpoint, ResourceName: resource,
	})
	return err
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func main() {
	count := flag.Int("count", 4, "how many GPUs to advertise")
	resource := flag.String("resource", "nvidia.com/gpu", "extended resource name")
	dir := flag.String("dir", pluginapi.DevicePluginPath, "the kubelet's device plugin directory")
	flag.Parse()

	p := &plugin{}
	for i := 0; i < *count; i++ {
		p.devices = append(p.devices, &pluginapi.Device{ID: fmt.Sprintf("stub-gpu-%d", i), Health: pluginapi.Healthy})
	}
	endpoint := "hypersearch-gpu-stub.sock"
	sock := filepath.Join(*dir, endpoint)
	kubeletSocket := filepath.Join(*dir, "kubelet.sock")
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)

	// The kubelet empties the directory when its device manager starts (also after a restart
	// of the kubelet), removing our socket, possibly after we registered. So: serve, register,
	// and whenever our socket disappears, serve and register again.
	for {
		_ = os.Remove(sock)
		lis, err := net.Listen("unix", sock)
		if err != nil {
			log.Fatalf("listen on %s: %v", sock, err)
		}
		server := grpc.NewServer()
		pluginapi.RegisterDevicePluginServer(server, p)
		go func() { _ = server.Serve(lis) }()
		registered := false
		for exists(sock) {
			select {
			case <-sig:
				server.Stop()
				_ = os.Remove(sock)
				return
			case <-time.After(time.Second):
			}
			if !registered && exists(kubeletSocket) {
				if err := registerOnce(kubeletSocket, endpoint, *resource); err != nil {
					log.Printf("registering with the kubelet: %v (retrying)", err)
					continue
				}
				registered = true
				log.Printf("registered %d x %s with the kubelet", *count, *resource)
			}
		}
		log.Printf("socket %s is gone (the kubelet emptied the directory); serving again", sock)
		server.Stop()
	}
}
