"""Forge Supplies and its inventory-sync client, from Python, through the native provider.

The Python SDK is generated from the provider's schema (docs/pulumi.md, "The native provider"):

    pulumi package gen-sdk node_modules/gatehouse/dist/provider/schema.json --language python --out sdk
    pip install ./sdk/python
"""
import pulumi
import pulumi_gatehouse as gatehouse

forge = gatehouse.Organization(
    "forge-supplies",
    namespace="blixit-partners",
    spec=gatehouse.OrganizationSpecArgs(
        display_name="Forge Supplies",
        contract=gatehouse.OrganizationSpecContractArgs(
            id="BLX-2025-087",
            partner_type="supplier",
            owner="tom.berg@blixit.example",
            ends_at="2027-12-31T23:59:59Z",
        ),
    ),
)

sync = gatehouse.Client(
    "forge-inventory-sync",
    namespace="blixit-partners",
    spec=gatehouse.ClientSpecArgs(
        organization_ref=gatehouse.LocalRefArgs(name=forge.name),
        type="m2m",
        scopes=["inventory:read"],
    ),
)

pulumi.export("issuer", forge.issuer)
pulumi.export("client_id", sync.client_id)
pulumi.export("client_secret", sync.client_secret)  # a Pulumi secret
