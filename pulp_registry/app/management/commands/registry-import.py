"""``pulpcore-manager registry-import``: import an OCI image layout or oci-archive."""

from pulp_registry.app.management.base import RegistryCommand, fail
from pulp_registry.app.tasks.importer import ImportFailed, import_layout


class Command(RegistryCommand):
    help = (
        "Import the images of an OCI image layout directory or an oci-archive tarball into the "
        "push repository NAME (created if needed), without a network: blobs, manifests, "
        "manifest lists and indexes, checked against their digests. Each image is tagged with "
        "--tag, or else with the tag in its org.opencontainers.image.ref.name annotation."
    )
    json_option = True

    def add_arguments(self, parser):
        parser.add_argument("path", help="The OCI layout directory or oci-archive tarball.")
        parser.add_argument(
            "--name",
            required=True,
            help="The image name to import into, e.g. 'library/alpine'.",
        )
        parser.add_argument(
            "--tag",
            help="Tag the imported image with TAG (the layout must hold one image, or choose "
            "one with --ref).",
        )
        parser.add_argument(
            "--ref",
            help="Import only the image whose ref.name annotation (e.g. 'latest') or digest is "
            "REF.",
        )

    def run(self, path, name, tag, ref, **options):
        try:
            result = import_layout(path, name, tag=tag, ref=ref, progress=self.progress)
        except ImportFailed as error:
            fail(f"import failed: {error}")
        if self._json:
            self.emit_json(result.as_dict())
            return
        self.stdout.write(
            f"imported {len(result.images)} image(s) into {result.name}: "
            f"{result.blobs_stored} blob(s) stored ({result.bytes_stored} bytes), "
            f"{result.blobs_present} already present"
        )
