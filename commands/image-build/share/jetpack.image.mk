# jetpack.image.mk: the Makefile workflow for Jetpack images (GNU make). See jetpack.image.mk(7).
#
# An image directory holds a Makefile that sets a few variables and includes this file:
#
#   PARENT_IMAGE = example.com/base:1     # build from this image ...
#   PARENT_DIRS  = ../base                # ... after making these image directories first
#   BUILD_COMMAND = /bin/sh build.sh      # run in /.jetpack.build, which holds this directory
#   include /usr/local/share/jetpack/jetpack.image.mk
#
# or, for a base image, IMPORT_FILE (a rootfs tarball or an ACI) and IMPORT_MANIFEST.
# `make` (target `image`) builds or imports the image and writes its JSON to image.json;
# `make aci` exports it to image.aci; `make clean` destroys it and removes both files.

JETPACK ?= jetpack
BUILD_COMMAND ?= /bin/sh build.sh
BUILD_DIR ?= .
BUILD_CP ?=
PARENT_DIRS ?=
IMAGE_JSON ?= image.json
ACI_FILE ?= image.aci
ACI_COMPRESSION ?= xz

# The image's ID, read back from image.json.
image_id = $(shell node -p 'require("./$(IMAGE_JSON)").id' 2>/dev/null)

.DEFAULT_GOAL := image
.PHONY: image parents aci clean

parents:
	@for d in $(PARENT_DIRS); do $(MAKE) -C $$d image || exit $$?; done

ifdef IMPORT_FILE
image: parents
	$(JETPACK) -json image import $(IMPORT_FILE) $(IMPORT_MANIFEST) > $(IMAGE_JSON).tmp
	mv $(IMAGE_JSON).tmp $(IMAGE_JSON)
else ifdef PARENT_IMAGE
image: parents
	$(JETPACK) -json image $(PARENT_IMAGE) build -dir=$(BUILD_DIR) $(addprefix -cp=,$(BUILD_CP)) $(BUILD_COMMAND) > $(IMAGE_JSON).tmp
	mv $(IMAGE_JSON).tmp $(IMAGE_JSON)
else
image:
	$(error Set PARENT_IMAGE (to build from an image) or IMPORT_FILE (to import one))
endif

aci: $(IMAGE_JSON)
	$(JETPACK) image $(image_id) export -compression=$(ACI_COMPRESSION) $(ACI_FILE)

clean:
	@if [ -f $(IMAGE_JSON) ]; then $(JETPACK) image $(image_id) destroy; fi
	rm -f $(IMAGE_JSON) $(IMAGE_JSON).tmp $(ACI_FILE)
