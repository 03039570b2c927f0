/* Decoy: drivers/mu1 is a different MU block; the i.MX8MP's MU driver is drivers/mu. */
#error "m7bridge stand-in SDK: drivers/mu1/fsl_mu.c is not the i.MX8MP MU driver (drivers/mu)"
