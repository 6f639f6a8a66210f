"""What one EKS node can give pods: allocatable CPU and memory per instance type (pure, no Pulumi).

Allocatable is what the kubelet advertises to the scheduler: the node's capacity less what
the kubelet reserves for itself and its eviction threshold. EKS AL2023 nodes are configured
by nodeadm (awslabs/amazon-eks-ami, nodeadm/internal/kubelet/config.go):

- kube-reserved CPU: 6 % of the first core, 1 % of the second, 0.5 % of the third and
  fourth, 0.25 % of every core above four (`getCPUMillicoresToReserve`);
- kube-reserved memory: 11 MiB per pod the node may run, plus 255 MiB
  (`getMemoryMebibytesToReserve`), where max pods is the ENI rule
  `ENIs * (IPv4 addresses per ENI - 1) + 2` (nodeadm/internal/kubelet/eni_max_pods.go, with
  the per-type ENI data of nodeadm/internal/kubelet/instance-info.jsonl, generated into
  infra/eni_limits.py and carried by the instance table);
- eviction threshold: `evictionHard memory.available: 100Mi` (config.go's defaults).

The kernel sees less memory than the instance's nominal GiB (firmware, kernel, page tables):
Karpenter models that gap as 7.5 % (`VM_MEMORY_OVERHEAD_PERCENT`, default 0.075; Karpenter
settings docs, karpenter.sh/docs/reference/settings), and so do we; it errs on the small side.

Every node also runs the DaemonSets EKS installs, and their requests come off what pods get:
vpc-cni's `aws-node` requests `cpu: 25m` and no memory (aws/amazon-vpc-cni-k8s,
charts/aws-vpc-cni/values.yaml v1.23.1; its node agent and init container request nothing);
`kube-proxy` requests `cpu: 100m` (the EKS add-on's DaemonSet, as upstream
kubernetes/kubernetes cluster/addons/kube-proxy/kube-proxy-ds.yaml requests a CPU share);
`eks-pod-identity-agent` requests nothing (aws/eks-pod-identity-agent,
charts/eks-pod-identity-agent/values.yaml `resources: {}`).
"""

from __future__ import annotations

from dataclasses import dataclass

from infra.instance_types import INSTANCE_SPECS, instance_size

EVICTION_HARD_MEMORY_MIB = 100
VM_MEMORY_OVERHEAD = 0.075


@dataclass(frozen=True)
class DaemonSetRequest:
    name: str
    cpu_millicores: int
    memory_mib: int


# The DaemonSets on every EKS node, with the requests their manifests declare (module docstring).
EKS_DAEMONSETS: tuple[DaemonSetRequest, ...] = (
    DaemonSetRequest("aws-node", 25, 0),
    DaemonSetRequest("kube-proxy", 100, 0),
    DaemonSetRequest("eks-pod-identity-agent", 0, 0),
)


@dataclass(frozen=True)
class NodeAllocatable:
    """What the scheduler can place on one node of `instance_type`, after the DaemonSets."""

    instance_type: str
    vcpu: int
    memory_gib: int
    max_pods: int
    kube_reserved_cpu_millicores: int
    kube_reserved_memory_mib: int
    kubelet_allocatable_cpu_millicores: int
    kubelet_allocatable_memory_mib: int
    daemonset_cpu_millicores: int
    daemonset_memory_mib: int

    @property
    def cpu_millicores(self) -> int:
        """CPU left for our pods: allocatable less the DaemonSets' requests."""
        return self.kubelet_allocatable_cpu_millicores - self.daemonset_cpu_millicores

    @property
    def memory_mib(self) -> int:
        """Memory left for our pods: allocatable less the DaemonSets' requests."""
        return self.kubelet_allocatable_memory_mib - self.daemonset_memory_mib


def max_pods(instance_type: str) -> int:
    """nodeadm's default max pods: ENIs * (IPv4 per ENI - 1) + 2; KeyError for a type not offered."""
    eni = INSTANCE_SPECS[instance_type].eni
    return eni.enis * (eni.ipv4_per_eni - 1) + 2


def kube_reserved_cpu_millicores(vcpu: int) -> int:
    """nodeadm's getCPUMillicoresToReserve: 6 %, 1 %, 0.5 %, 0.5 %, then 0.25 % per core."""
    total = vcpu * 1000
    reserved = 0
    for start, end, basis_points in ((0, 1000, 600), (1000, 2000, 100), (2000, 4000, 50), (4000, total, 25)):
        if total > start:
            reserved += (min(total, end) - start) * basis_points // 10000
    return reserved


def kube_reserved_memory_mib(pods: int) -> int:
    """nodeadm's getMemoryMebibytesToReserve: 11 MiB per pod plus 255 MiB."""
    return 11 * pods + 255


def node_allocatable(
    instance_type: str, daemonsets: tuple[DaemonSetRequest, ...] = EKS_DAEMONSETS
) -> NodeAllocatable:
    """Allocatable CPU and memory of one EKS AL2023 node; KeyError for a type the project does not offer."""
    size = instance_size(instance_type)
    if size is None:
        raise KeyError(instance_type)
    pods = max_pods(instance_type)
    reserved_cpu = kube_reserved_cpu_millicores(size.vcpu)
    reserved_memory = kube_reserved_memory_mib(pods)
    capacity_memory = int(size.memory_gib * 1024 * (1 - VM_MEMORY_OVERHEAD))
    return NodeAllocatable(
        instance_type=instance_type,
        vcpu=size.vcpu,
        memory_gib=size.memory_gib,
        max_pods=pods,
        kube_reserved_cpu_millicores=reserved_cpu,
        kube_reserved_memory_mib=reserved_memory,
        kubelet_allocatable_cpu_millicores=size.vcpu * 1000 - reserved_cpu,
        kubelet_allocatable_memory_mib=capacity_memory - reserved_memory - EVICTION_HARD_MEMORY_MIB,
        daemonset_cpu_millicores=sum(d.cpu_millicores for d in daemonsets),
        daemonset_memory_mib=sum(d.memory_mib for d in daemonsets),
    )
