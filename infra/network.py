"""The network the cluster runs in: a new VPC, or an existing one named in config.

Nodes only ever run in private subnets (no public IPs); public subnets exist for the
NAT gateways and internet-facing load balancers. One NAT gateway is the cheap default;
`natGateways: perAz` keeps each AZ's egress alive when another AZ fails.

A gateway VPC endpoint for S3 sits on the private route tables: S3 traffic (Spark's reads
and writes, and the image layers ECR serves from S3) then skips the NAT gateway, which
charges per GB processed, while gateway endpoints "come at no additional charge" (AWS
Prescriptive Guidance, startup security baseline WKLD.12). An existing VPC gets one too
unless `network.s3GatewayEndpoint: false` (it may have its own: a route table takes one
gateway endpoint per service).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.settings import NetworkSettings


@dataclass(frozen=True)
class NetworkArgs:
    settings: NetworkSettings
    cluster_name: str


def subnet_cidrs(vpc_cidr: str, zones: int) -> tuple[list[str], list[str]]:
    """Private and public CIDRs: the VPC in eight equal blocks, private first, public from the fifth."""
    blocks = list(ipaddress.IPv4Network(vpc_cidr).subnets(prefixlen_diff=3))
    return [str(b) for b in blocks[:zones]], [str(b) for b in blocks[4 : 4 + zones]]


class Network(pulumi.ComponentResource):
    vpc_id: pulumi.Output[str]
    private_subnet_ids: pulumi.Output[list[str]]
    public_subnet_ids: pulumi.Output[list[str]]
    s3_endpoint: aws.ec2.VpcEndpoint | None

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("spark-eks-spot:infra:Network", name, None, opts)
        settings = args.settings
        self.s3_endpoint = None
        if settings.uses_existing_vpc:
            self.vpc_id = pulumi.Output.from_input(settings.existing_vpc_id)  # type: ignore[arg-type]
            self.private_subnet_ids = pulumi.Output.from_input(list(settings.private_subnet_ids))
            self.public_subnet_ids = pulumi.Output.from_input(list(settings.public_subnet_ids))
            if settings.s3_gateway_endpoint:
                # Each private subnet's route table (explicitly associated), once each.
                tables = [
                    aws.ec2.get_route_table_output(
                        vpc_id=settings.existing_vpc_id, subnet_id=subnet_id, opts=pulumi.InvokeOutputOptions(parent=self)
                    ).route_table_id
                    for subnet_id in settings.private_subnet_ids
                ]
                route_table_ids = pulumi.Output.all(*tables).apply(lambda ids: sorted(set(ids)))
                self.s3_endpoint = self._s3_gateway_endpoint(name, args.cluster_name, self.vpc_id, route_table_ids)
        else:
            self._create_vpc(name, args)
        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "privateSubnetIds": self.private_subnet_ids,
                "publicSubnetIds": self.public_subnet_ids,
            }
        )

    def _create_vpc(self, name: str, args: NetworkArgs) -> None:
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self)
        # Local and Wavelength zones are opt-in; EKS rejects subnets there.
        zones = aws.get_availability_zones_output(
            state="available",
            filters=[aws.GetAvailabilityZonesFilterArgs(name="opt-in-status", values=["opt-in-not-required"])],
            opts=pulumi.InvokeOutputOptions(parent=self),
        ).names
        # The cluster tag lets EKS and the load balancer controller find these subnets.
        cluster_tag = {f"kubernetes.io/cluster/{args.cluster_name}": "shared"}

        vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=settings.vpc_cidr,
            enable_dns_hostnames=True,
            enable_dns_support=True,
            tags={"Name": f"{args.cluster_name}-vpc"},
            opts=child,
        )
        internet_gateway = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=vpc.id, tags={"Name": f"{args.cluster_name}-igw"}, opts=child
        )
        public_routes = aws.ec2.RouteTable(
            f"{name}-public",
            vpc_id=vpc.id,
            routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", gateway_id=internet_gateway.id)],
            tags={"Name": f"{args.cluster_name}-public"},
            opts=child,
        )

        private_cidrs, public_cidrs = subnet_cidrs(settings.vpc_cidr, settings.availability_zones)

        def subnet(tier: str, index: int, cidr: str, role_tag: str, route_table: aws.ec2.RouteTable | None) -> aws.ec2.Subnet:
            created = aws.ec2.Subnet(
                f"{name}-{tier}-{index}",
                vpc_id=vpc.id,
                cidr_block=cidr,
                availability_zone=zones.apply(lambda names: names[index]),
                map_public_ip_on_launch=False,
                tags={**cluster_tag, role_tag: "1", "Name": f"{args.cluster_name}-{tier}-{index}"},
                opts=child,
            )
            if route_table is not None:
                aws.ec2.RouteTableAssociation(
                    f"{name}-{tier}-{index}", subnet_id=created.id, route_table_id=route_table.id, opts=child
                )
            return created

        public_subnets = [
            subnet("public", i, public_cidrs[i], "kubernetes.io/role/elb", public_routes)
            for i in range(settings.availability_zones)
        ]
        nat_zones = range(settings.availability_zones) if settings.nat_gateways == "perAz" else range(1)
        nat_gateways = [
            aws.ec2.NatGateway(
                f"{name}-nat-{i}",
                allocation_id=aws.ec2.Eip(
                    f"{name}-nat-{i}", domain="vpc", tags={"Name": f"{args.cluster_name}-nat-{i}"}, opts=child
                ).id,
                subnet_id=public_subnets[i].id,
                tags={"Name": f"{args.cluster_name}-nat-{i}"},
                opts=pulumi.ResourceOptions(parent=self, depends_on=[internet_gateway]),
            )
            for i in nat_zones
        ]
        private_subnets = []
        private_route_tables = []
        for i in range(settings.availability_zones):
            # perAz: each zone egresses through its own NAT; single: all through the first.
            nat = nat_gateways[i % len(nat_gateways)]
            routes = aws.ec2.RouteTable(
                f"{name}-private-{i}",
                vpc_id=vpc.id,
                routes=[aws.ec2.RouteTableRouteArgs(cidr_block="0.0.0.0/0", nat_gateway_id=nat.id)],
                tags={"Name": f"{args.cluster_name}-private-{i}"},
                opts=child,
            )
            private_route_tables.append(routes)
            private_subnets.append(subnet("private", i, private_cidrs[i], "kubernetes.io/role/internal-elb", routes))

        self.vpc_id = vpc.id
        self.private_subnet_ids = pulumi.Output.all(*[s.id for s in private_subnets])
        self.public_subnet_ids = pulumi.Output.all(*[s.id for s in public_subnets])
        self.s3_endpoint = self._s3_gateway_endpoint(
            name, args.cluster_name, vpc.id, pulumi.Output.all(*[table.id for table in private_route_tables])
        )

    def _s3_gateway_endpoint(
        self, name: str, cluster_name: str, vpc_id: pulumi.Input[str], route_table_ids: pulumi.Input[list[str]]
    ) -> aws.ec2.VpcEndpoint:
        # The region's S3 service name as EC2 spells it (com.amazonaws.<region>.s3, other partitions differ).
        service = aws.ec2.get_vpc_endpoint_service_output(
            service="s3", service_type="Gateway", opts=pulumi.InvokeOutputOptions(parent=self)
        )
        return aws.ec2.VpcEndpoint(
            f"{name}-s3",
            vpc_id=vpc_id,
            service_name=service.service_name,
            vpc_endpoint_type="Gateway",
            route_table_ids=route_table_ids,
            tags={"Name": f"{cluster_name}-s3"},
            opts=pulumi.ResourceOptions(parent=self),
        )
