import BatonAPI
